/**
 * Spend control in workerd with real D1 and Durable Objects (issue 14): the usage ledger
 * against the runs it sums, budgets enforced where a run would become a job, the 80 %
 * warning, per-run limits in the Job, and bad input.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Budget, UsageReport } from "../../protocol/spend.ts";
import { Run } from "../../protocol/api.ts";
import { call, callOk, createChannel, createTask, expectError, insertDiscordChannel, insertRun, mintToken, snapshotStore } from "./helpers.ts";
import { admin, runnerFor, waitForCalls } from "./discord-helpers.ts";

const DAY = 86_400_000;
const dispatcherJobs = (channelId: string) =>
  runInDurableObject(env.DISPATCHER.getByName("default"), (_o, state) => state.storage.sql.exec("SELECT run_id FROM jobs WHERE channel_id = ?", channelId).toArray());
const runRow = (id: number) => env.DB.prepare("SELECT * FROM runs WHERE id = ?").bind(id).first<any>();
const usage = (query: string, token?: string) => callOk(UsageReport, `/api/usage?${query}`, { token });

describe("usage ledger", () => {
  it("sums match the runs exactly, per channel, task and model, and a scoped token sees only its channels", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const t = await createTask(a.id);
    // A fixed past month no other test writes to.
    const base = Date.UTC(2001, 2, 10, 12);
    const seeded = [
      { channelId: a.id, taskId: t.id, model: "opus", costUsd: 0.125, inputTokens: 1000, outputTokens: 50, cacheReadTokens: 600, cacheWriteTokens: 100, status: "succeeded" as const, finishedAt: base },
      { channelId: a.id, taskId: null, model: "opus", costUsd: 0.25, inputTokens: 2000, outputTokens: 70, cacheReadTokens: 0, cacheWriteTokens: 300, status: "failed" as const, finishedAt: base + 1000 },
      { channelId: a.id, taskId: t.id, model: "haiku", costUsd: 0.0625, inputTokens: 10, outputTokens: 5, status: "succeeded" as const, finishedAt: base + 2000 },
      { channelId: b.id, taskId: null, model: "haiku", costUsd: 1.5, inputTokens: 7, outputTokens: 3, status: "succeeded" as const, finishedAt: base + 3000 },
      { channelId: a.id, taskId: t.id, status: "skipped_budget" as const, finishedAt: base + 4000, error: "over budget" },
      // Outside the period and unfinished: never counted.
      { channelId: a.id, costUsd: 9, status: "succeeded" as const, finishedAt: base - 40 * DAY },
      { channelId: a.id, status: "queued" as const },
    ];
    for (const r of seeded) await insertRun(r);
    const period = `from=2001-03-01&to=2001-04-01`;

    const all = await usage(`${period}&channel_id=${a.id}`);
    expect(all.total).toEqual({ runs: 3, skipped_budget: 1, input_tokens: 3010, output_tokens: 125, cache_read_tokens: 600, cache_write_tokens: 400, cost_usd: 0.4375 });
    expect(all.groups).toEqual([]);

    const byModel = await usage(`${period}&channel_id=${a.id}&group_by=model`);
    expect(byModel.groups.map((g) => [g.key, g.runs, g.cost_usd])).toEqual([["opus", 2, 0.375], ["haiku", 1, 0.0625], [null, 0, 0]]);

    const byTask = await usage(`${period}&channel_id=${a.id}&group_by=task`);
    expect(byTask.groups.map((g) => [g.key, g.runs, g.skipped_budget, g.cost_usd])).toEqual([[null, 1, 0, 0.25], [String(t.id), 2, 1, 0.1875]]);
    expect((await usage(`${period}&task_id=${t.id}`)).total.cost_usd).toBe(0.1875);

    const byChannel = await usage(`${period}&group_by=channel`);
    const mine = byChannel.groups.filter((g) => g.key === a.id || g.key === b.id);
    expect(mine.map((g) => [g.key, g.cost_usd])).toEqual([[b.id, 1.5], [a.id, 0.4375]]);
    // Every group adds up to the total.
    expect(byChannel.groups.reduce((s, g) => s + g.cost_usd, 0)).toBeCloseTo(byChannel.total.cost_usd, 9);

    const scoped = await mintToken([a.id]);
    const seen = await usage(`${period}&group_by=channel`, scoped.token);
    expect(seen.groups.map((g) => g.key)).toEqual([a.id]);
    await expectError(await call(`/api/usage?channel_id=${b.id}`, { token: scoped.token }), 404);
  });

  it("days: from is inclusive, to exclusive, and days are local days in tz", async () => {
    const ch = await createChannel();
    // 2001-06-01 22:30 UTC is 2001-06-02 00:30 in Berlin (CEST, +02:00).
    const lateEvening = Date.UTC(2001, 5, 1, 22, 30);
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 1, finishedAt: lateEvening });
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 2, finishedAt: Date.UTC(2001, 5, 1, 12) });
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 4, finishedAt: Date.UTC(2001, 5, 3) });

    const utc = await usage(`channel_id=${ch.id}&from=2001-06-01&to=2001-06-03&group_by=day`);
    expect(utc.groups.map((g) => [g.key, g.cost_usd])).toEqual([["2001-06-01", 3]]);
    expect(utc.from).toBe("2001-06-01T00:00:00.000Z");

    const berlin = await usage(`channel_id=${ch.id}&from=2001-06-01&to=2001-06-04&group_by=day&tz=Europe/Berlin`);
    expect(berlin.from).toBe("2001-05-31T22:00:00.000Z");
    expect(berlin.groups.map((g) => [g.key, g.cost_usd])).toEqual([["2001-06-01", 2], ["2001-06-02", 1], ["2001-06-03", 4]]);

    // Exactly at `to` is outside; exactly at `from` inside.
    const edge = await usage(`channel_id=${ch.id}&from=${new Date(lateEvening).toISOString()}&to=2001-06-03T00:00:00Z`);
    expect(edge.total.cost_usd).toBe(1);
  });

  it("refuses a bad period or zone with 422 naming the field", async () => {
    await expectError(await call("/api/usage?tz=Mars/Olympus"), 422, { field: "tz" });
    await expectError(await call("/api/usage?from=2001-02-01&to=2001-01-01"), 422, { field: "from" });
    await expectError(await call("/api/usage?from=1999-01-01&to=2001-01-01"), 422, { field: "from" });
    await expectError(await call("/api/usage?group_by=week"), 422, { field: "group_by" });
    await expectError(await call("/api/usage?from=yesterday"), 422, { field: "from" });
  });
});

describe("the daily rollup the budget check reads", () => {
  it("equals the sum of the runs per channel and UTC day, and in total, through inserts, finishing updates and deletes", async () => {
    const a = await createChannel();
    const b = await createChannel();
    // A past year no other test writes to.
    const day = Date.UTC(2003, 6, 14);
    const queued = await insertRun({ channelId: a.id, status: "running", costUsd: 0.5 });
    await insertRun({ channelId: a.id, status: "succeeded", costUsd: 0.25, finishedAt: day + 1 });
    await insertRun({ channelId: a.id, status: "failed", costUsd: null, finishedAt: day + 2 });
    await insertRun({ channelId: b.id, status: "succeeded", costUsd: 1, finishedAt: day + 86_399_999 });
    const nextDay = await insertRun({ channelId: b.id, status: "succeeded", costUsd: 4, finishedAt: day + 86_400_000 });
    // The finishing update counts the run's whole cost (a parked run's cost accrues before it finishes).
    await env.DB.prepare("UPDATE runs SET status = 'succeeded', finished_at = ?, cost_usd = cost_usd + 0.125 WHERE id = ?").bind(day + 3, queued).run();
    // A finished run whose cost is corrected, and one deleted.
    await env.DB.prepare("UPDATE runs SET cost_usd = 8 WHERE id = ?").bind(nextDay).run();
    const gone = await insertRun({ channelId: b.id, status: "succeeded", costUsd: 16, finishedAt: day + 5 });
    await env.DB.prepare("DELETE FROM runs WHERE id = ?").bind(gone).run();

    const rollup = async (scope: string, d: number) => (await env.DB.prepare("SELECT cost_usd FROM spend_days WHERE scope = ? AND day = ?").bind(scope, d).first<{ cost_usd: number }>())?.cost_usd;
    const fromRuns = async (channel: string | null, d: number) =>
      (await env.DB.prepare(`SELECT total(cost_usd) AS s FROM runs WHERE finished_at >= ?1 AND finished_at < ?1 + 86400000 ${channel ? "AND channel_id = ?2" : ""}`).bind(...(channel ? [d, channel] : [d])).first<{ s: number }>())!.s;
    for (const d of [day, day + 86_400_000]) {
      expect(await rollup(a.id, d) ?? 0, `channel a, ${new Date(d).toISOString()}`).toBeCloseTo(await fromRuns(a.id, d), 9);
      expect(await rollup(b.id, d) ?? 0, `channel b, ${new Date(d).toISOString()}`).toBeCloseTo(await fromRuns(b.id, d), 9);
      expect(await rollup("*", d) ?? 0, `all, ${new Date(d).toISOString()}`).toBeCloseTo(await fromRuns(null, d), 9);
    }
    expect([await rollup(a.id, day), await rollup(b.id, day), await rollup(b.id, day + 86_400_000)]).toEqual([0.875, 1, 8]);
  });
});

describe("budgets", () => {
  it("a channel over its 0.01 USD cap skips its next run, and no job reaches a runner", async () => {
    const ch = await createChannel();
    const runner = await runnerFor(ch.id);
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 0.02, finishedAt: Date.now() - 1000 });
    const budget = await callOk(Budget, `/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: 0.01 } });
    expect(budget.daily).toMatchObject({ cap_usd: 0.01, spent_usd: 0.02 });

    const queued = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "spend more" } }, 201);
    const row = await runRow(queued.id);
    expect(row.status).toBe("skipped_budget");
    expect(row.error).toBe("over budget: the channel's daily budget: $0.0200 spent of $0.0100 today (UTC)");
    expect(row.finished_at).not.toBeNull();
    // Nothing was handed to the Dispatcher for this channel.
    expect(await dispatcherJobs(ch.id)).toEqual([]);

    // Removing the cap (null) lets the next run through; the skipped one stays skipped.
    await callOk(Budget, `/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: null } });
    const next = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "now" } }, 201);
    const job = await runner.claim();
    expect(job.run_id).toBe(next.id);
    expect((await runRow(queued.id)).status).toBe("skipped_budget");
  });

  it("a thread runs under its channel's caps, and its spend counts in the channel's: neither side outspends a capped channel", async () => {
    const parent = await createChannel();
    const threadId = `ch_thread_${crypto.randomUUID().slice(0, 8)}`;
    await env.DB.prepare("INSERT INTO channels (id, name, parent_id) VALUES (?, 'a thread', ?)").bind(threadId, parent.id).run();
    await callOk(Budget, `/api/channels/${parent.id}/budget`, { method: "PUT", body: { daily_usd: 0.01 } });
    // The thread spent past the channel's cap; the channel itself spent nothing.
    await insertRun({ channelId: threadId, status: "succeeded", costUsd: 0.02, finishedAt: Date.now() - 1000 });
    const budget = await callOk(Budget, `/api/channels/${parent.id}/budget`);
    expect(budget.daily).toMatchObject({ cap_usd: 0.01, spent_usd: 0.02 });

    const inChannel = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: parent.id, prompt: "in the channel" } }, 201);
    expect((await runRow(inChannel.id)).status).toBe("skipped_budget");
    const inThread = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: threadId, prompt: "in the thread" } }, 201);
    const row = await runRow(inThread.id);
    expect(row.status).toBe("skipped_budget");
    expect(row.error).toBe("over budget: the channel's daily budget: $0.0200 spent of $0.0100 today (UTC)");
    expect(await dispatcherJobs(threadId)).toEqual([]);
  });

  it("the global monthly cap applies to every channel; a budget change never touches a running run", async () => {
    const ch = await createChannel();
    const runner = await runnerFor(ch.id);
    const first = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "one" } }, 201);
    const job = await runner.claim();
    expect(job.run_id).toBe(first.id);
    const second = await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "two" } }, 201);
    try {
      // A cap of 0 stops everything from starting; the running run goes on and completes.
      await callOk(Budget, "/api/budget", { method: "PUT", body: { monthly_usd: 0 } });
      expect((await runRow(first.id)).status).toBe("running");
      await runner.complete(job, { cost_usd: 0.5 });
      expect((await runRow(first.id)).status).toBe("succeeded");
      const skipped = await runRow(second.id);
      expect(skipped.status).toBe("skipped_budget");
      expect(skipped.error).toMatch(/^over budget: the global monthly budget: \$[\d.]+ spent of \$0\.0000 this month \(UTC\)$/);
    } finally {
      await callOk(Budget, "/api/budget", { method: "PUT", body: { monthly_usd: null } });
    }
  });

  it("a scheduled occurrence over budget is recorded as skipped", async () => {
    const ch = await createChannel();
    await runnerFor(ch.id);
    await callOk(Budget, `/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: 0 } });
    const task = await createTask(ch.id);
    const due = Date.now() - 5_000;
    await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(due, task.id).run();
    await runDurableObjectAlarm(env.CHANNEL_SESSION.getByName(ch.id));
    const { results } = await env.DB.prepare("SELECT * FROM runs WHERE task_id = ?").bind(task.id).all<any>();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ status: "skipped_budget", scheduled_for: due, trigger: "schedule" });
    expect(results[0].error).toMatch(/over budget: the channel's daily budget/);
  });

  it("posts one 80 % warning per period in the channel, and the footer shows the day's spend against the cap", async () => {
    const { id, discordId } = await insertDiscordChannel("budget-warn");
    const runner = await runnerFor(id);
    await callOk(Budget, `/api/channels/${id}/budget`, { method: "PUT", body: { daily_usd: 1 } });
    for (const cost of [0.85, 0.05]) {
      await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: id, prompt: `costs ${cost}` } }, 201);
      await runner.complete(await runner.claim(), { cost_usd: cost });
    }
    const posts = await waitForCalls(`/channels/${discordId}/messages`, (calls) => calls.some((c) => c.body?.content?.includes("Budget at")) && calls.filter((c) => c.body?.content?.includes("today $0.9000 of $1.00")).length > 0);
    expect(posts.filter((c) => c.method === "POST" && c.body?.content?.includes("Budget at"))).toHaveLength(1);
    expect(posts.find((c) => c.body?.content?.includes("Budget at"))!.body.content).toBe(
      "⚠️ **Budget at 85 %**: the channel's daily budget: $0.8500 spent of $1.00 today (UTC). Runs that would start past the cap will be skipped.",
    );
    const { results } = await env.DB.prepare("SELECT * FROM budget_warnings WHERE channel_id = ?").bind(id).all<any>();
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ scope: "channel:daily", period: new Date().toISOString().slice(0, 10) });
  });

  it("refuses negative or absurd caps with 422 naming the field, and changes nothing", async () => {
    const ch = await createChannel();
    const before = await snapshotStore();
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: -1 } }), 422, { field: "daily_usd" });
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: { monthly_usd: 1e6 + 1 } }), 422, { field: "monthly_usd" });
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: "5" } }), 422, { field: "daily_usd" });
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: {} }), 422);
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: { weekly_usd: 3 } }), 422, { field: "weekly_usd" });
    await expectError(await call("/api/budget", { method: "PUT", body: { daily_usd: -0.01 } }), 422, { field: "daily_usd" });
    expect(await snapshotStore()).toEqual(before);
    expect((await callOk(Budget, `/api/channels/${ch.id}/budget`)).daily_usd).toBeNull();
  });

  it("only an admin sets the global budget; a channel token sets its own channel's; a run token neither", async () => {
    const ch = await createChannel();
    const scoped = await mintToken([ch.id]);
    await expectError(await call("/api/budget", { method: "PUT", body: { daily_usd: 5 }, token: scoped.token }), 403);
    await expectError(await call("/api/budget", { token: scoped.token }), 403);
    const set = await callOk(Budget, `/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: 5, monthly_usd: 50 }, token: scoped.token });
    expect(set).toMatchObject({ scope: ch.id, daily_usd: 5, monthly_usd: 50 });
    // A field left out keeps its value.
    expect(await callOk(Budget, `/api/channels/${ch.id}/budget`, { method: "PUT", body: { monthly_usd: null } })).toMatchObject({ daily_usd: 5, monthly_usd: null, monthly: null });

    const runner = await runnerFor(ch.id);
    await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "agent" } }, 201);
    const job = await runner.claim();
    await expectError(await call(`/api/channels/${ch.id}/budget`, { method: "PUT", body: { daily_usd: 500 }, token: job.mcp.token }), 403);
    await expectError(await call(`/api/channels/${ch.id}/limits`, { method: "PUT", body: { max_turns: 500 }, token: job.mcp.token }), 403);
  });
});

describe("per-run limits", () => {
  it("travel in the Job: a task's own value wins over the channel's", async () => {
    const ch = await createChannel();
    const runner = await runnerFor(ch.id);
    expect((await admin("PUT", `/api/channels/${ch.id}/limits`, { max_turns: 5, max_budget_usd: 0.5, timeout_sec: 600 })).body).toEqual({ channel_id: ch.id, max_turns: 5, max_budget_usd: 0.5, timeout_sec: 600 });
    const task = await createTask(ch.id);
    expect((await admin("PUT", `/api/tasks/${task.id}/limits`, { max_turns: 2 })).body).toEqual({ task_id: task.id, max_turns: 2, max_budget_usd: null, timeout_sec: null });

    await callOk(Run, "/api/runs", { method: "POST", body: { channel_id: ch.id, prompt: "plain" } }, 201);
    const plain = await runner.claim();
    expect(plain.limits).toEqual({ max_turns: 5, max_budget_usd: 0.5, timeout_sec: 600 });
    await runner.complete(plain);

    // A run of the task (as run_task or its schedule makes it).
    const runId = await insertRun({ channelId: ch.id, taskId: task.id, status: "queued" });
    await env.CHANNEL_SESSION.getByName(ch.id).enqueue(ch.id);
    const fromTask = await runner.claim();
    expect(fromTask.run_id).toBe(runId);
    expect(fromTask.limits).toEqual({ max_turns: 2, max_budget_usd: 0.5, timeout_sec: 600 });

    await expectError(await call(`/api/channels/${ch.id}/limits`, { method: "PUT", body: { max_turns: 0 } }), 422, { field: "max_turns" });
    await expectError(await call(`/api/channels/${ch.id}/limits`, { method: "PUT", body: { timeout_sec: 1e9 } }), 422, { field: "timeout_sec" });
    await expectError(await call(`/api/tasks/${task.id}/limits`, { method: "PUT", body: { max_budget_usd: -2 } }), 422, { field: "max_budget_usd" });
  });
});
