/**
 * /loop usage and /loop budget (issue 14) through the real Worker, signed as Discord signs
 * them, against real D1: the figures match the runs seeded, the periods' edges hold, only
 * owners change caps, and a cap set here is the cap the channel's queue enforces.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { insertRun } from "./helpers.ts";
import { admin, newPlace, run, runnerFor, snowflake, type Place } from "./discord-helpers.ts";

const DAY = 86_400_000;
const budgetRow = (scope: string) => env.DB.prepare("SELECT daily_usd, monthly_usd FROM budgets WHERE scope = ?").bind(scope).first<any>();
const runRow = (id: number) => env.DB.prepare("SELECT status, error FROM runs WHERE id = ?").bind(id).first<any>();

/** A channel made by its first /loop command (its Loop id is the Discord id), owned by the place's user. */
async function ownedChannel(): Promise<Place> {
  const place = newPlace();
  await run("owner add", { user: place.userId }, place);
  return place;
}

describe("/loop usage", () => {
  it("today, 7 and 30 UTC days and the top tasks, summed exactly from the channel's runs", async () => {
    const place = await ownedChannel();
    const ch = place.channelId;
    const task = (await admin("POST", "/api/tasks", { channel_id: ch, type: "interval", schedule: "1h", prompt: "Summarise the open pull requests\nand post them" })).body;
    const other = (await admin("POST", "/api/tasks", { channel_id: ch, type: "interval", schedule: "1h", prompt: "Check the nightly build" })).body;
    const now = Date.now();
    const todayStart = now - (now % DAY);
    // Inside today whatever the time of day, without reaching into the future.
    const today = Math.max(todayStart, now - 60_000);
    const seeded = [
      { taskId: task.id, costUsd: 0.5, inputTokens: 12_000, outputTokens: 300, finishedAt: today },
      { taskId: null, costUsd: 0.125, inputTokens: 900, outputTokens: 40, finishedAt: today },
      { taskId: task.id, status: "skipped_budget" as const, finishedAt: today },
      // The first instant of the 7-day window (today and the 6 days before), and the last one outside it.
      { taskId: other.id, costUsd: 2, inputTokens: 1_500_000, outputTokens: 20_000, finishedAt: todayStart - 6 * DAY },
      { taskId: task.id, costUsd: 1, inputTokens: 100, outputTokens: 10, finishedAt: todayStart - 6 * DAY - 1 },
      // The 30-day window's first instant is in; the one before it is not.
      { taskId: null, costUsd: 0.25, inputTokens: 50, outputTokens: 5, finishedAt: todayStart - 29 * DAY },
      { taskId: task.id, costUsd: 100, finishedAt: todayStart - 29 * DAY - 1 },
      // Not finished: not counted.
      { taskId: task.id, status: "running" as const, costUsd: null },
    ];
    for (const r of seeded) await insertRun({ channelId: ch, status: "succeeded", ...r });
    // Another channel's runs never show here.
    await insertRun({ channelId: (await admin("POST", "/api/channels", { dir_path: `/tmp/other-${snowflake()}` })).body.id, status: "succeeded", costUsd: 7, finishedAt: today });

    const member: Place = { ...place, userId: snowflake() };
    const res = await run("usage", {}, member);
    expect(res.ephemeral).toBe(true);
    expect(res.content).toBe(
      [
        `**Usage** · channel \`${ch}\` · UTC days`,
        "Today: **$0.6250** · 2 runs · 13k in / 340 out tokens · 💸 1 skipped over budget",
        "7 days: **$2.63** · 3 runs · 1.5M in / 20k out tokens · 💸 1 skipped over budget",
        "30 days: **$3.88** · 5 runs · 1.5M in / 20k out tokens · 💸 1 skipped over budget",
        "**Top tasks** (30 days)",
        `1. $2.00 · 1 run — \`#${other.id}\` Check the nightly build`,
        `2. $1.50 · 2 runs — \`#${task.id}\` Summarise the open pull requests and post them`,
        "3. $0.3750 · 2 runs — no task (asks, loops, MCP and API runs)",
        "-# `/loop budget` shows the caps; `GET /api/usage` and MCP `get_usage` give any period, by day, task or model.",
      ].join("\n"),
    );

    // One period: its line, and its own ranking.
    const week = await run("usage", { period: "today" }, member);
    expect(week.content.split("\n").slice(1, 5)).toEqual([
      "Today: **$0.6250** · 2 runs · 13k in / 340 out tokens · 💸 1 skipped over budget",
      "**Top tasks** (today)",
      `1. $0.5000 · 1 run — \`#${task.id}\` Summarise the open pull requests and post them`,
      "2. $0.1250 · 1 run — no task (asks, loops, MCP and API runs)",
    ]);

    // The REST ledger over the same 30 days agrees to the cent.
    const ledger = (await admin("GET", `/api/usage?channel_id=${ch}&from=${new Date(todayStart - 29 * DAY).toISOString()}&to=${new Date(now + 1).toISOString()}`)).body;
    expect(ledger.total).toMatchObject({ runs: 5, skipped_budget: 1, cost_usd: 3.875 });
  });

  it("counts the runs of the channel's threads: they spend the channel's budget", async () => {
    const place = await ownedChannel();
    const threadId = `ch_thread_${snowflake()}`;
    await env.DB.prepare("INSERT INTO channels (id, name, parent_id) VALUES (?, 'a thread', ?)").bind(threadId, place.channelId).run();
    await insertRun({ channelId: threadId, status: "succeeded", costUsd: 0.5, inputTokens: 1000, outputTokens: 10, finishedAt: Date.now() - 1000 });
    const res = await run("usage", { period: "today" }, place);
    expect(res.content.split("\n")[1]).toBe("Today: **$0.5000** · 1 run · 1,000 in / 10 out tokens");
  });

  it("a channel with no runs says so, and a bad period is refused with an example", async () => {
    const place = newPlace();
    const res = await run("usage", { period: "7d" }, place);
    expect(res.content.split("\n")[1]).toBe("7 days: nothing ran");
    expect(res.content).not.toContain("Top tasks");
    const bad = await run("usage", { period: "year" }, place);
    expect(bad.ephemeral).toBe(true);
    expect(bad.content).toMatch(/^⚠️ Period: must be today, 7d or 30d/);
    expect(bad.content).toContain("Example: `/loop usage period: 7d");
  });
});

describe("/loop budget", () => {
  it("shows the caps to anyone; only owners set them; a cap set here is the one the queue enforces", async () => {
    const place = await ownedChannel();
    const ch = place.channelId;
    const member: Place = { ...place, userId: snowflake() };
    expect((await run("budget", {}, member)).content).toBe(
      [
        `**Budget** · channel \`${ch}\` · UTC day and month`,
        "Daily: no cap",
        "Monthly: no cap",
        "-# A run that would start once a cap is used up is skipped. Owners: `/loop budget daily_usd: 5`, `clear: daily` removes a cap.",
      ].join("\n"),
    );
    const refused = await run("budget", { daily_usd: 100 }, member);
    expect(refused.ephemeral).toBe(true);
    expect(refused.content).toMatch(/^🔒 Only this channel's owners can change the budget\./);
    expect(await budgetRow(ch)).toBeNull();

    await insertRun({ channelId: ch, status: "succeeded", costUsd: 0.02, finishedAt: Date.now() - 1000 });
    const set = await run("budget", { daily_usd: 0.01, monthly_usd: 40 }, place);
    expect(set.ephemeral).toBe(false);
    expect(set.content.split("\n").slice(0, 4)).toEqual([
      `💸 Budget changed by <@${place.userId}>`,
      `**Budget** · channel \`${ch}\` · UTC day and month`,
      "Daily: $0.0200 spent today of **$0.0100** (200 %) · 💸 used up: runs are skipped",
      "Monthly: $0.0200 spent this month of **$40.00** (0 %)",
    ]);
    expect(await budgetRow(ch)).toEqual({ daily_usd: 0.01, monthly_usd: 40 });
    expect((await admin("GET", `/api/channels/${ch}/budget`)).body).toMatchObject({ daily_usd: 0.01, monthly_usd: 40 });

    // The queue enforces it: the next run is skipped and never reaches a runner.
    await runnerFor(ch);
    const queued = (await admin("POST", "/api/runs", { channel_id: ch, prompt: "more" })).body;
    expect(await runRow(queued.id)).toEqual({ status: "skipped_budget", error: "over budget: the channel's daily budget: $0.0200 spent of $0.0100 today (UTC)" });

    // clear removes a cap and keeps the other.
    const cleared = await run("budget", { clear: "daily" }, place);
    expect(cleared.content).toContain("Daily: no cap");
    expect(await budgetRow(ch)).toEqual({ daily_usd: null, monthly_usd: 40 });
    await run("budget", { clear: "both" }, place);
    expect(await budgetRow(ch)).toEqual({ daily_usd: null, monthly_usd: null });
  });

  it("refuses negative, absurd and contradictory caps, naming the option, and changes nothing", async () => {
    const place = await ownedChannel();
    await run("budget", { monthly_usd: 10 }, place);
    const cases: [Record<string, number | string>, RegExp][] = [
      [{ daily_usd: -1 }, /^⚠️ Daily_usd: daily_usd cannot be negative/],
      [{ monthly_usd: 1e6 + 1 }, /^⚠️ Monthly_usd: monthly_usd cannot be over 1000000/],
      [{ monthly_usd: 5, clear: "both" }, /^⚠️ Clear: monthly_usd cannot be set and cleared at once/],
      [{ clear: "weekly" }, /^⚠️ Clear: must be daily, monthly or both/],
    ];
    for (const [options, pattern] of cases) {
      const res = await run("budget", options, place);
      expect(res.ephemeral, JSON.stringify(options)).toBe(true);
      expect(res.content, JSON.stringify(options)).toMatch(pattern);
      expect(res.content).toContain("Example: `/loop budget daily_usd: 5 monthly_usd: 100");
    }
    expect(await budgetRow(place.channelId)).toEqual({ daily_usd: null, monthly_usd: 10 });
  });

  it("in a thread it is the parent channel's budget; global caps show when set", async () => {
    const parent = await ownedChannel();
    const thread = newPlace({ thread: { parentId: parent.channelId }, userId: parent.userId });
    await run("budget", { daily_usd: 3 }, thread);
    expect(await budgetRow(parent.channelId)).toEqual({ daily_usd: 3, monthly_usd: null });
    expect(await budgetRow(thread.channelId)).toBeNull();
    try {
      expect((await admin("PUT", "/api/budget", { monthly_usd: 1000 })).status).toBe(200);
      const lines = (await run("budget", {}, thread)).content.split("\n");
      expect(lines.slice(0, 6)).toEqual([
        `**Budget** · channel \`${parent.channelId}\` · UTC day and month`,
        expect.stringMatching(/^Daily: \$[\d.]+ spent today of \*\*\$3\.00\*\* \(\d+ %\)/),
        "Monthly: no cap",
        "**Global caps** (every channel's runs count)",
        "Daily: no cap",
        expect.stringMatching(/^Monthly: \$[\d.]+ spent this month of \*\*\$1000\.00\*\* \(\d+ %\)/),
      ]);
    } finally {
      await admin("PUT", "/api/budget", { monthly_usd: null });
    }
  });
});
