// The whole Loop, end to end: signed Discord interactions → the Worker (`wrangler dev`, D1,
// Durable Objects and their alarms) → a runner → the real Claude Code CLI in Docker → the
// fake Anthropic API → the agent calling the Worker's MCP endpoint → live messages and
// answers on the fake Discord API, and the same runs over REST.
//
//   1. /loop dir + /loop schedule (interval) → the alarm fires → a thread with a live
//      message, edited a bounded number of times → the agent schedules a once task over MCP
//      → a long answer in ≤ 2,000-character chunks with balanced code fences and a footer →
//      the once task fires and succeeds too; the interval task, paused with /loop toggle,
//      ran exactly once.
//   2. `loop runner` (the production bundle) is SIGKILLed mid-run and started again: the
//      orphan container goes, its lease is handed back, attempt 2 succeeds, and at no point
//      do two containers of the run exist.
//
// Needs Docker, root (chown to the container user) and the test agent image (built on first use).
import { execFile } from "node:child_process";
import { randomUUID, webcrypto } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOOP_COMMAND } from "../../protocol/discord-commands.ts";
import { runnerKeyFor } from "../../runner/runner.ts";
import { conversationText, hasToolResult, isMainTurn, lastUserText, type RecordedRequest } from "../fakes/anthropic.ts";
import { startFakeDiscord, type FakeDiscord, type RecordedCall } from "../fakes/discord.ts";
import { agentDir, API_KEY, configFile, docker, getRun, runnerConfig, setRules, setupEnv, sleepMs, startTestRunner, waitFor, waitForRun, type Env, type TestRunner, killRunnerProcesses, spawnRunnerProcess } from "../runner/helpers.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const NODE = join(ROOT, "node_modules/.bin/node");
const APP_ID = "910000000000000001";
const GUILD_ID = "910000000000000002";
const BOT_TOKEN = "e2e-bot-token";
const LEASE_TTL_SECONDS = 5;

let env: Env;
let discord: FakeDiscord;
let signingKey: webcrypto.CryptoKey;
let runner: TestRunner | undefined;
/** Discord channel ids this file created: their containers are removed in afterAll. */
const channels: string[] = [];

beforeAll(async () => {
  const building = promisify(execFile)(NODE, [join(ROOT, "scripts/build-runner.ts")], { cwd: ROOT });
  const keys = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  signingKey = keys.privateKey;
  const publicKey = hex(await webcrypto.subtle.exportKey("raw", keys.publicKey));
  discord = await startFakeDiscord({ botToken: BOT_TOKEN });
  env = await setupEnv({
    vars: {
      DISCORD_PUBLIC_KEY: publicKey,
      DISCORD_APP_ID: APP_ID,
      DISCORD_BOT_TOKEN: BOT_TOKEN,
      DISCORD_API_BASE: discord.url,
      MIN_INTERVAL_SECONDS: "1",
      LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS),
      LOG_LEVEL: "error",
    },
  });
  await building;
}, 300_000);

afterAll(async () => {
  killRunnerProcesses();
  await runner?.stop().catch(() => {});
  for (const channelId of channels) {
    const left = await docker.listContainers({ all: true, filters: { label: [`loop.channel=${channelId}`] } }).catch(() => []);
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  }
  await env?.close();
  await discord?.close();
}, 60_000);

// ---- Discord interactions, signed like Discord signs them -------------------------------

const DISCORD_EPOCH = 1_420_070_400_000n;
let snowflakes = 0;
function snowflake(ms = Date.now()): string {
  snowflakes += 1;
  return String(((BigInt(ms) - DISCORD_EPOCH) << 22n) | BigInt((snowflakes * 7919 + Math.floor(Math.random() * 4096)) & 0x3fffff));
}

function hex(buf: ArrayBuffer): string {
  return Buffer.from(buf).toString("hex");
}

interface Place {
  channelId: string;
  userId: string;
}

function newPlace(): Place {
  const place = { channelId: snowflake(), userId: snowflake() };
  channels.push(place.channelId);
  return place;
}

/** A /loop subcommand; option types come from the registered command definition itself. */
function command(place: Place, sub: string, values: Record<string, string | number>) {
  const def = LOOP_COMMAND.options.find((o) => o.name === sub && o.type === 1);
  if (!def || !("options" in def)) throw new Error(`/loop ${sub} is not a subcommand`);
  const options = Object.entries(values).map(([name, value]) => {
    const opt = (def.options ?? []).find((o) => o.name === name);
    if (!opt) throw new Error(`/loop ${sub} has no option ${name}`);
    return { name, type: opt.type, value };
  });
  const id = snowflake();
  return {
    id,
    application_id: APP_ID,
    type: 2,
    token: `e2e-${id}-${randomUUID()}`,
    version: 1,
    guild_id: GUILD_ID,
    channel_id: place.channelId,
    channel: { id: place.channelId, type: 0, name: "project" },
    member: { user: { id: place.userId, username: "e2e-owner" }, permissions: "2048", roles: [] },
    data: { id: APP_ID, name: "loop", type: 1, options: [{ type: 1, name: sub, options }] },
  };
}

/** Sends a /loop subcommand to the Worker exactly as Discord does: Ed25519 over timestamp + body. */
async function interact(place: Place, sub: string, values: Record<string, string | number>) {
  const interaction = command(place, sub, values);
  const body = JSON.stringify(interaction);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = hex(await webcrypto.subtle.sign({ name: "Ed25519" }, signingKey, new TextEncoder().encode(timestamp + body)));
  const res = await fetch(`${env.worker.url}/discord/interactions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-signature-ed25519": signature, "x-signature-timestamp": timestamp },
    body,
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  expect(res.status, text).toBe(200);
  return { interaction, type: json.type as number, content: (json.data?.content ?? "") as string, ephemeral: json.data?.flags === 64 };
}

/** /loop dir as an owner (bootstrap mode), then pins the channel to one runner's label over REST. */
async function bindChannel(place: Place, dir: string, label: string): Promise<string> {
  const bound = await interact(place, "dir", { path: dir });
  expect(bound).toMatchObject({ type: 4, ephemeral: false });
  expect(bound.content).toContain(dir);
  const channel = await env.api("GET", `/api/channels/${place.channelId}`);
  expect(channel.body).toMatchObject({ discord_channel_id: place.channelId, dir_path: dir });
  const pinned = await env.api("PATCH", `/api/channels/${channel.body.id}`, { runner_label: label });
  expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
  return channel.body.id;
}

async function registerLabelled(label: string): Promise<string> {
  const res = await env.api("POST", "/api/runners", { name: label, labels: [label] });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.token;
}

// ---- what the fake Discord saw ----------------------------------------------------------

const callsTo = (path: string, method?: string): RecordedCall[] => discord.calls.filter((c) => c.path === path && (!method || c.method === method));
const fenceLines = (text: string) => text.split("\n").filter((l) => /^ {0,3}```/.test(l)).length;
/** Lines that carry content: no blank lines, no fence lines (chunking closes and reopens fences). */
const contentLines = (text: string) => text.split("\n").filter((l) => l.trim() && !/^ {0,3}```/.test(l));

/** The thread a scheduled run of `taskId` posted in, with every call made to its messages. */
function threadOf(parentId: string, taskId: number) {
  const created = callsTo(`/channels/${parentId}/threads`, "POST").find((c) => c.status === 201 && String(c.body?.name).startsWith(`⏰ Task #${taskId}: `));
  if (!created) return null;
  const threadId = created.response.id as string;
  const posts = callsTo(`/channels/${threadId}/messages`, "POST").filter((c) => c.status === 200);
  const live = posts[0];
  const edits = live ? callsTo(`/channels/${threadId}/messages/${live.response.id}`, "PATCH").filter((c) => c.status === 200) : [];
  return { created, threadId, live, edits, posts };
}

// ---- the answers --------------------------------------------------------------------------

/** More than one message's worth, with a code block across the 2,000-character mark. */
function longAnswer(tag: string): string {
  const prose = (n: number, what: string) =>
    Array.from({ length: n }, (_, i) => `${what} ${i + 1}: the nightly check read the build log, ran the tests and looked at the open pull requests.`).join("\n\n");
  const code = Array.from({ length: 40 }, (_, i) => `const step${i} = await check(${i}); // part ${i} of the run`);
  return [`Report ${tag}.`, prose(14, "Finding"), "```ts", ...code, "```", prose(3, "Next step")].join("\n");
}

const mainTurnWith = (marker: string) => (r: RecordedRequest) => isMainTurn(r) && !hasToolResult(r) && lastUserText(r).includes(marker);

describe("the whole loop", () => {
  it("Discord schedules an interval task; its run uses MCP to schedule a once task; both run in Docker and answer in threads", async () => {
    const label = "e2e-schedule";
    runner = await startTestRunner(runnerConfig(env, await registerLabelled(label)));
    const place = newPlace();
    const workdir = agentDir(env, "scheduled");
    const channelId = await bindChannel(place, workdir, label);

    const marker = `E2E-INTERVAL-${randomUUID().slice(0, 8)}`;
    const followUp = `E2E-FOLLOWUP-${randomUUID().slice(0, 8)}`;
    const answer = longAnswer(marker);
    expect(answer.length).toBeGreaterThan(2_000);
    expect(answer.indexOf("```ts")).toBeLessThan(1_900);
    expect(answer.lastIndexOf("```")).toBeGreaterThan(2_100);
    const steps = Array.from({ length: 6 }, (_, i) => ({ name: "Bash", input: { command: `echo step-${i}`, description: `step ${i}` } }));
    setRules(env, [
      { match: mainTurnWith(followUp), reply: { text: `Follow-up done: ${followUp}.`, usage: { input_tokens: 300, output_tokens: 12 } } },
      {
        match: mainTurnWith(marker),
        times: 1,
        reply: {
          text: "Checking the project, then scheduling a follow-up.",
          toolUses: [...steps, { name: "mcp__loop__schedule_task", input: { type: "once", schedule: "in 5s", prompt: `${followUp}: confirm the nightly check.` } }],
          usage: { input_tokens: 1_200, output_tokens: 80 },
        },
      },
      // Slow enough (word by word) that the live message shows the tool calls before the answer.
      { match: (r) => isMainTurn(r) && hasToolResult(r) && conversationText(r).includes(marker), times: 1, reply: { text: answer, delayMs: 6, usage: { input_tokens: 1_500, output_tokens: 900 } } },
    ]);

    // /loop schedule: an interval task every 6 s.
    const scheduled = await interact(place, "schedule", { schedule: "6s", type: "interval", prompt: `${marker}: check the project, then plan a follow-up.` });
    expect(scheduled).toMatchObject({ type: 4, ephemeral: false });
    const taskId = Number(/task `#(\d+)`/.exec(scheduled.content)?.[1]);
    expect(taskId, scheduled.content).toBeGreaterThan(0);
    const listed = await env.api("GET", `/api/tasks?channel_id=${channelId}`);
    expect(listed.body.tasks).toEqual([expect.objectContaining({ id: taskId, type: "interval", schedule: "6s", enabled: true })]);

    // The channel's alarm fires it by itself; pause the task as soon as its first run exists.
    const [first] = await waitFor("the interval task's first run", async () => {
      const runs = (await env.api("GET", `/api/runs?task_id=${taskId}`)).body.runs;
      return runs.length ? runs : null;
    }, 30_000);
    const toggled = await interact(place, "toggle", { task_id: taskId });
    const pausedAt = Date.now();
    expect(toggled.content).toBe(`⏸️ Task \`#${taskId}\` is paused.`);
    expect((await env.api("GET", `/api/tasks/${taskId}`)).body).toMatchObject({ enabled: false, next_run_at: null });
    expect(first).toMatchObject({ task_id: taskId, channel_id: channelId, trigger: "schedule" });
    expect(Date.parse(first.scheduled_for) - Date.parse(listed.body.tasks[0].created_at)).toBe(6_000);

    const run = await waitForRun(env, first.id, 90_000);
    expect(run, JSON.stringify(run.events?.slice(-5))).toMatchObject({ status: "succeeded", attempt: 1, error: null, result_text: answer, exit_code: 0 });
    expect(run.input_tokens).toBeGreaterThan(0);
    expect(run.output_tokens).toBeGreaterThan(0);
    expect(run.cost_usd).toBeGreaterThan(0);
    expect(run.model).toMatch(/^claude-/);

    // The agent was offered the Worker's MCP tools directly (ENABLE_TOOL_SEARCH=false), called
    // schedule_task with its run token, and the once task exists.
    expect(env.fake.messageRequests().find(mainTurnWith(marker))?.toolNames).toContain("mcp__loop__schedule_task");
    const mcpUse = run.events.find((e: any) => e.type === "tool_use" && e.payload.name === "mcp__loop__schedule_task");
    const mcpResult = run.events.find((e: any) => e.type === "tool_result" && e.payload.tool_use_id === mcpUse?.payload.id);
    expect(mcpResult?.payload, JSON.stringify(run.events)).toMatchObject({ is_error: false });
    // Claude Code hands the model the tool's structuredContent (the task) when there is one,
    // else its text ("Task scheduled (ID: 12); …").
    const output = mcpResult.payload.output as string;
    const onceId = output.startsWith("{") ? (JSON.parse(output).id as number) : Number(/^Task scheduled \(ID: (\d+)\)/.exec(output)?.[1]);
    expect(onceId, output).toBeGreaterThan(taskId);
    const tasks = (await env.api("GET", `/api/tasks?channel_id=${channelId}`)).body.tasks;
    expect(tasks.find((t: any) => t.id === onceId)).toMatchObject({ type: "once", channel_id: channelId, prompt: `${followUp}: confirm the nightly check.` });

    // Discord: a thread named after the task, one live message in it, edited a bounded number of times.
    // The answer is delivered by the channel's alarm after the run ends: wait for its footer.
    const footerMark = `-# ✅ run #${run.id} · `;
    const thread = await waitFor("the footer in the task's thread", () => {
      const t = threadOf(place.channelId, taskId);
      return t && [...t.edits, ...t.posts].some((c) => c.body.content?.includes(footerMark)) ? t : null;
    }, 20_000);
    expect(thread.created).toMatchObject({ auth: "bot", body: { name: expect.stringContaining(marker), type: 11 } });
    expect(thread.live?.body.content).toMatch(new RegExp(`^\\*\\*Run #${run.id}\\*\\* · `));
    const liveEdits = thread.edits.filter((c) => c.body.components?.length); // the live view carries the Stop button
    const finalEdit = thread.edits.find((c) => !c.body.components?.length)!;
    expect(liveEdits.length).toBeGreaterThanOrEqual(1);
    expect(liveEdits.some((c) => c.body.content.includes("⏳ Working…"))).toBe(true);
    expect(liveEdits.some((c) => c.body.content.includes("mcp__loop__schedule_task"))).toBe(true);
    // Coalesced: at most one call per 1.5 s for the live view, far fewer edits than events.
    const liveCalls = [thread.live!, ...liveEdits];
    for (let i = 1; i < liveCalls.length; i++) expect(liveCalls[i]!.at - liveCalls[i - 1]!.at).toBeGreaterThanOrEqual(1_200);
    expect(liveEdits.length).toBeLessThanOrEqual(2 + Math.ceil((liveCalls.at(-1)!.at - thread.live!.at) / 1_500));
    expect(run.events.length).toBeGreaterThanOrEqual(15);
    expect(liveEdits.length).toBeLessThan(run.events.length / 2);
    expect(thread.edits.indexOf(finalEdit)).toBe(thread.edits.length - 1); // nothing edits the answer afterwards

    // The answer: the final edit, then follow-up messages; each ≤ 2,000 characters with its fences closed.
    const finalPosts = thread.posts.filter((c) => c.at >= finalEdit.at && c !== thread.live);
    const chunks = [finalEdit.body.content as string, ...finalPosts.map((c) => c.body.content as string)];
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    for (const chunk of chunks) {
      expect(chunk.length).toBeLessThanOrEqual(2_000);
      expect(fenceLines(chunk) % 2, chunk).toBe(0);
    }
    const splitAt = chunks.findIndex((c) => c.trimEnd().endsWith("```") && c.includes("const step0"));
    expect(splitAt, "the code block spans two messages").toBeGreaterThanOrEqual(0);
    expect(chunks[splitAt + 1]).toMatch(/^```ts\n/);
    const footer = chunks.at(-1)!.split("\n").at(-1)!;
    const fmt = (n: number) => n.toLocaleString("en-US");
    expect(footer.startsWith(footerMark), footer).toBe(true);
    expect(footer).toContain(` · 7 tool calls · ${fmt(run.input_tokens)} in / ${fmt(run.output_tokens)} out tokens · $${run.cost_usd.toFixed(4)} · ${run.model}`);
    const delivered = chunks.join("\n").split("\n").slice(0, -1).join("\n"); // without the footer
    expect(contentLines(delivered)).toEqual(contentLines(answer));
    for (const c of [thread.created, thread.live!, ...thread.edits, ...finalPosts]) expect(c.auth).toBe("bot");

    // The once task the agent scheduled fires 5 s later, after the interval run (one run at a time).
    const [onceRun] = await waitFor("the once task's run to finish", async () => {
      const runs = (await env.api("GET", `/api/runs?task_id=${onceId}`)).body.runs;
      return runs.length && !["queued", "running"].includes(runs[0].status) ? runs : null;
    }, 90_000);
    expect(onceRun).toMatchObject({ status: "succeeded", trigger: "schedule", result_text: `Follow-up done: ${followUp}.`, session_id: run.session_id });
    expect(Date.parse(onceRun.started_at)).toBeGreaterThanOrEqual(Date.parse(run.finished_at));
    expect(onceRun.cost_usd).toBeGreaterThan(0);
    expect((await env.api("GET", `/api/tasks/${onceId}`)).body).toMatchObject({ enabled: false, next_run_at: null });
    const onceThread = await waitFor("the once run's answer in its thread", () => {
      const t = threadOf(place.channelId, onceId);
      return t?.edits.some((c) => c.body.content.includes(`Follow-up done: ${followUp}.`)) ? t : null;
    }, 15_000);
    expect(onceThread.created.body.name).toContain(followUp);

    // Paused after its first run: no other occurrence fired since (give the next one, due 6 s
    // after the first, time to show up; by now it usually has), and none fired twice.
    const nextOccurrence = Date.parse(first.scheduled_for) + 6_000;
    expect(pausedAt, "paused before the next occurrence was due").toBeLessThan(nextOccurrence);
    while (Date.now() < nextOccurrence + 2_000) await sleepMs(200);
    const intervalRuns = (await env.api("GET", `/api/runs?task_id=${taskId}`)).body.runs;
    expect(intervalRuns.map((r: any) => r.id)).toEqual([first.id]);
    expect(callsTo(`/channels/${place.channelId}/threads`, "POST").map((c) => c.body.name.split(":")[0])).toEqual([`⏰ Task #${taskId}`, `⏰ Task #${onceId}`]);
    expect(await docker.listContainers({ all: true, filters: { label: [`loop.channel=${channelId}`] } })).toEqual([]);

    await runner.stop();
    runner = undefined;
  }, 150_000);

  it("SIGKILL of `loop runner` mid-run: the restarted runner removes the orphan, the run is re-queued and succeeds once, never two containers at a time", async () => {
    const label = "e2e-crash";
    const token = await registerLabelled(label);
    const config = configFile(env, token, { concurrency: 1, log_level: "info" });
    const configPath = join(env.base, "crash-runner.json");
    writeFileSync(configPath, JSON.stringify(config));
    const runnerKey = runnerKeyFor({ workerUrl: config.worker_url, runnerToken: token });

    const place = newPlace();
    const channelId = await bindChannel(place, agentDir(env, "crash"), label);
    const marker = `E2E-CRASH-${randomUUID().slice(0, 8)}`;
    setRules(env, [
      // Attempt 1: 100 words, 200 ms apart, so the runner is killed while the model is still talking.
      { match: mainTurnWith(marker), times: 1, reply: { text: Array.from({ length: 100 }, (_, i) => `w${i}`).join(" "), delayMs: 200 } },
      { match: mainTurnWith(marker), reply: { text: `Recovered: ${marker}.` } },
    ]);

    const first = spawnRunnerProcess(configPath, "bundle");
    await waitFor("the first runner to wait for jobs", () => first.out.stderr.includes("waiting for jobs (long-poll)"), 60_000);
    const ask = await interact(place, "ask", { prompt: `${marker}: take your time.` });
    expect(ask.type).toBe(5); // deferred: the answer comes as the live message
    const queued = await waitFor("the asked run", async () => (await env.api("GET", `/api/runs?channel_id=${channelId}`)).body.runs[0], 15_000);
    const id = queued.id as number;
    expect(queued).toMatchObject({ trigger: "discord", prompt: `${marker}: take your time.` });

    // Watch the run's containers the whole time: never two at once.
    const filters = { label: [`loop.run=${id}`, `loop.channel=${channelId}`, `loop.runner=${runnerKey}`] };
    const seen = new Map<string, string>(); // container id → attempt label
    let most = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const list = await docker.listContainers({ all: true, filters }).catch(() => []);
        most = Math.max(most, list.length);
        for (const c of list) seen.set(c.Id, c.Labels["loop.attempt"] ?? "?");
        await sleepMs(100);
      }
    })();

    try {
      const original = `/webhooks/${APP_ID}/${ask.interaction.token}/messages/@original`;
      const orphan = await waitFor("attempt 1 mid-reply in its container, shown as working in Discord", async () => {
        const run = await getRun(env, id);
        const list = await docker.listContainers({ filters });
        const talking = env.fake.messageRequests().some(mainTurnWith(marker));
        const shown = callsTo(original, "PATCH").some((c) => c.status === 200 && c.body.content.includes("⏳ Working…"));
        return run.status === "running" && run.attempt === 1 && talking && shown && list.length === 1 && list[0]!.State === "running" ? list[0] : null;
      }, 60_000);
      first.child.kill("SIGKILL");
      await first.exited;
      expect((await docker.getContainer(orphan.Id).inspect()).State.Running).toBe(true); // orphaned, still working

      const second = spawnRunnerProcess(configPath, "bundle");
      await waitFor("the orphan's removal", () => second.out.stderr.includes("left over from an earlier run"), 60_000);
      await expect(docker.getContainer(orphan.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });

      // The new process hands the orphan's lease back: the Worker re-queues the run (attempt 2) and the new process runs it.
      const run = await waitForRun(env, id, 90_000);
      expect(run, JSON.stringify(run)).toMatchObject({ status: "succeeded", attempt: 2, error: null, result_text: `Recovered: ${marker}.` });
      // Attempt 2's events are numbered from its lease's first_seq: nothing collides with attempt 1's.
      const seqs = run.events.map((e: any) => e.seq as number);
      expect(new Set(seqs).size).toBe(seqs.length);
      expect(run.events.filter((e: any) => e.seq < 1_000_000).map((e: any) => e.type)).toContain("init");
      expect(run.events.filter((e: any) => e.seq > 1_000_000).map((e: any) => e.type)).toEqual(["init", "text"]);

      // One final status: it stays put past another lease TTL, and no lease is left behind.
      const settled = { status: run.status, finished_at: run.finished_at, attempt: run.attempt };
      const until = Date.now() + (LEASE_TTL_SECONDS + 1) * 1000;
      while (Date.now() < until) {
        const again = await getRun(env, id);
        expect({ status: again.status, finished_at: again.finished_at, attempt: again.attempt }).toEqual(settled);
        await sleepMs(500);
      }
      const leases = (await env.api("GET", "/api/runners")).body.runners.flatMap((r: any) => r.leases);
      expect(leases.filter((l: any) => l.run_id === id)).toEqual([]);

      // The Discord user saw it end once, with the answer of attempt 2.
      const finals = callsTo(original, "PATCH").filter((c) => c.status === 200 && !c.body.components?.length);
      expect(finals.map((c) => c.body.content)).toEqual([expect.stringMatching(new RegExp(`^Recovered: ${marker}\\.\\n-# ✅ run #${id} · `))]);

      watching = false;
      await watcher;
      expect(most).toBe(1);
      expect([...seen.values()].sort()).toEqual(["1", "2"]); // the orphan (attempt 1), then attempt 2's
      expect(await docker.listContainers({ all: true, filters })).toEqual([]);

      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
      for (const text of [first.out.stdout, first.out.stderr, second.out.stdout, second.out.stderr]) {
        expect(text).not.toContain(API_KEY);
        expect(text).not.toContain(token);
      }
    } finally {
      watching = false;
      await watcher;
    }
  }, 150_000);
});

