/**
 * bench/cost: what one job costs against Cloudflare's free tier, counted, not estimated.
 * The Worker runs as the metered bench build (bench/meter: every Worker request by route,
 * every Durable Object request, every D1 statement's rows read and written from its result's
 * `meta`); the fake Discord API counts Discord calls. A real `loop runner` (production
 * bundle) runs each job in real Docker with the real claude CLI and the fake Anthropic API.
 *   idle:      one full claim cycle of a runner with nothing to do, scaled to a day
 *   ask:       `/loop ask` (a signed interaction) → a run with 20 stream events (init, nine
 *              Bash steps as tool_use + tool_result, the answer) → its live Discord message
 *   scheduled: a `once` task's occurrence fired by the channel's alarm → the same 20 events
 *              → its result posted to the Discord channel
 * A job's window opens before its trigger and closes when the runner, having completed it,
 * is claiming again, plus 3 s for work after the answer (waitUntil, the last live edit).
 * Free tier per day (Workers Free): 100,000 Worker requests
 * (https://developers.cloudflare.com/workers/platform/limits/), 100,000 Durable Object
 * requests (https://developers.cloudflare.com/durable-objects/platform/pricing/), D1
 * 5,000,000 rows read and 100,000 rows written
 * (https://developers.cloudflare.com/d1/platform/pricing/).
 * Goals (issue 15): ≤ 8 Worker requests and ≤ 25 D1 rows written per job besides event rows;
 * ≤ 1,000 requests a day from an idle runner.
 * Rows written are listed per statement: D1 counts each index entry a statement writes as a
 * row (deleting one is not counted by workerd), so an insert into `runs` costs the row,
 * `sqlite_sequence` and one entry per index that holds the run. Migration 0009 made the
 * indexes on `runs` partial (docs/storage.md, "Indexes on runs"): a scheduled run's insert
 * went from 11 rows to 5.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ChannelKind, InteractionKind, OptionType } from "../protocol/discord-constants.ts";
import { isMainTurn, type RecordedRequest } from "../test/fakes/anthropic.ts";
import { startFakeDiscord } from "../test/fakes/discord.ts";
import { configFile, setRules, setupEnv, waitFor } from "../test/runner/helpers.ts";
import type { MeterEvent } from "./meter-event.ts";
import { meteredConfig, meterEvents } from "./meter-config.ts";
import { report, round } from "./lib.ts";
import { discordSigner } from "./signer.ts";

const ROOT = resolve(import.meta.dirname, "..");
const FREE = { workerRequests: 100_000, doRequests: 100_000, d1RowsRead: 5_000_000, d1RowsWritten: 100_000 };
const STEPS = 9; // init + 9 × (tool_use, tool_result) + text = 20 events
const SETTLE_MS = 3_000;
const APP = "950000000000000001";
const GUILD = "950000000000000002";
const CHANNEL = "950000000000000013";
const USER = "950000000000000004";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

execFileSync(process.execPath, [join(ROOT, "scripts/build-runner.ts")], { stdio: "inherit" });

// The metered build: the product's wrangler.toml with the bench entry as `main`.
const meterConfig = meteredConfig();

const signer = await discordSigner();
const discord = await startFakeDiscord({ botToken: "bench-bot-token" });
const env = await setupEnv({
  config: meterConfig,
  vars: { DISCORD_PUBLIC_KEY: signer.publicKey, DISCORD_API_BASE: discord.url, DISCORD_BOT_TOKEN: "bench-bot-token", DISCORD_APP_ID: APP, LOG_LEVEL: "error" },
});
let child: ChildProcess | undefined;

const meter = (): MeterEvent[] => meterEvents(env.worker.output());

/** The fake model's script: STEPS Bash steps marked with this job's marker, then an answer. */
function stepsScript(marker: string) {
  const done = (q: RecordedRequest) =>
    (q.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : [])).filter((b) => b.type === "tool_result" && JSON.stringify(b).includes(marker)).length;
  setRules(env, [
    { match: (q) => isMainTurn(q) && done(q) < STEPS, reply: (q) => ({ toolUses: [{ name: "Bash", input: { command: `echo ${marker}-${done(q) + 1}`, description: "step" } }] }) },
    { match: isMainTurn, reply: { text: `Done: ${marker}.`, usage: { input_tokens: 20, output_tokens: 5 } } },
  ]);
}

interface Ledger {
  kind: string;
  workerByRoute: Map<string, number>;
  doByMethod: Map<string, number>;
  workerRequests: number;
  doRequests: number;
  rowsRead: number;
  rowsWritten: number;
  eventRowsWritten: number;
  discordByRoute: Map<string, number>;
  discordCalls: number;
  /** Rows written by statement (D1 counts each index a row touches as a row written too). */
  writtenBySql: Map<string, number>;
}

const tally = (m: Map<string, number>, k: string, n = 1) => m.set(k, (m.get(k) ?? 0) + n);

function ledger(kind: string, events: MeterEvent[], discordCalls: { method: string; path: string }[]): Ledger {
  const l: Ledger = { kind, workerByRoute: new Map(), doByMethod: new Map(), workerRequests: 0, doRequests: 0, rowsRead: 0, rowsWritten: 0, eventRowsWritten: 0, discordByRoute: new Map(), discordCalls: discordCalls.length, writtenBySql: new Map() };
  for (const e of events) {
    // The bench's own reads (it checks each job's run) are no part of a job.
    if (e.k === "worker" && e.route.startsWith("GET /api/")) continue;
    if (e.k === "worker") (l.workerRequests++, tally(l.workerByRoute, e.route));
    else if (e.k === "do") (l.doRequests++, tally(l.doByMethod, `${e.cls}.${e.method}`));
    else if (e.k === "d1") {
      l.rowsRead += e.read;
      l.rowsWritten += e.written;
      if (e.written) tally(l.writtenBySql, e.sql.slice(0, 70), e.written);
      if (/INSERT INTO run_events/i.test(e.sql)) l.eventRowsWritten += e.written;
    }
  }
  for (const c of discordCalls) tally(l.discordByRoute, `${c.method} ${c.path.replace(/\/\d{5,}/g, "/:id").replace(/\/webhooks\/:id\/[^/]+/, "/webhooks/:app/:token")}`);
  return l;
}

/** Runs a job: the window opens now and closes once the runner is claiming again after `complete`. */
async function measure(kind: string, trigger: () => Promise<void>): Promise<Ledger> {
  const from = meter().length;
  const discordFrom = discord.calls.length;
  await trigger();
  await waitFor(`the ${kind} job to complete and the runner to claim again`, () => {
    const ev = meter().slice(from);
    const done = ev.findIndex((e) => e.k === "worker" && e.route.endsWith("/complete"));
    return done >= 0 && ev.slice(done + 1).some((e) => e.k === "worker" && e.route === "POST /runner/v1/claim");
  }, 180_000);
  await sleep(SETTLE_MS);
  // A job that failed would cost less and prove nothing: say what became of it.
  const { body } = await env.api("GET", "/api/runs?limit=1");
  const last = body.runs[0];
  console.log(`${kind}: run #${last.id} ${last.status}${last.error ? ` (${last.error})` : ""}`);
  if (last.status !== "succeeded") throw new Error(`the ${kind} job's run ended ${last.status}: ${last.error}`);
  return ledger(kind, meter().slice(from), discord.calls.slice(discordFrom));
}

function sendAsk(prompt: string) {
  return signer.send(env.worker.url, JSON.stringify(interactionBody("ask", [{ type: OptionType.String, name: "prompt", value: prompt }])));
}

function interactionBody(subcommand: string, options: object[] = []) {
  const id = String(((BigInt(Date.now()) - 1_420_070_400_000n) << 22n) | 7n);
  return {
    id,
    application_id: APP,
    type: InteractionKind.ApplicationCommand,
    token: `bench-cost-${id}`,
    version: 1,
    guild_id: GUILD,
    channel_id: CHANNEL,
    channel: { id: CHANNEL, type: ChannelKind.GuildText, name: "bench-cost" },
    member: { user: { id: USER, username: "bench" }, permissions: "2048", roles: [] },
    data: { id: APP, name: "loop", type: 1, options: [{ type: OptionType.Subcommand, name: subcommand, options }] },
  };
}

try {
  const { body: registered } = await env.api("POST", "/api/runners", { name: "bench-cost", labels: [] });
  const configPath = join(env.base, "config.json");
  writeFileSync(configPath, JSON.stringify(configFile(env, registered.token, { concurrency: 1, log_level: "warn" })));
  const { ANTHROPIC_API_KEY: _a, CLAUDE_CODE_OAUTH_TOKEN: _b, ANTHROPIC_BASE_URL: _c, ...parentEnv } = process.env;
  child = spawn(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/loop.mjs"), "runner", "--config", configPath], { cwd: ROOT, env: parentEnv, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  await waitFor("the runner's claim loop", () => stderr.includes("waiting for jobs (long-poll)"), 120_000);

  // ---- idle: from one claim's arrival to the next one's ---------------------------------
  const claims = () => meter().filter((e) => e.k === "worker" && e.route === "POST /runner/v1/claim");
  // The second cycle: the first one also holds the runner's start-up requests (its first
  // ask for worktree removals), which an idle day does not repeat.
  const firstIdle = claims().length + 1;
  await waitFor("three claims of an idle runner", () => claims().length >= firstIdle + 2, 300_000);
  const [a, b] = claims().slice(firstIdle, firstIdle + 2) as [MeterEvent, MeterEvent];
  const cycle = meter().filter((e) => e.at >= a.at && e.at < b.at);
  const cycleSec = (b.at - a.at) / 1000;
  const perDay = 86_400 / cycleSec;
  const idle = ledger("idle (a day)", cycle, []);
  console.log(`idle cycle of ${round(cycleSec, 1)} s: ${[...idle.workerByRoute].map(([r, n]) => `${n} × ${r}`).join(", ")}`);
  const idleDay = { workerRequests: idle.workerRequests * perDay, doRequests: idle.doRequests * perDay, rowsRead: idle.rowsRead * perDay, rowsWritten: idle.rowsWritten * perDay };
  console.log(`idle runner: one claim every ${round(cycleSec, 1)} s → ${Math.round(idleDay.workerRequests)} Worker requests, ${Math.round(idleDay.doRequests)} DO requests, ${Math.round(idleDay.rowsRead)} D1 rows read, ${Math.round(idleDay.rowsWritten)} D1 rows written a day`);

  // ---- the jobs --------------------------------------------------------------------------
  // The channel's first interaction creates its row: a one-time cost, outside the window,
  // so the ask below is a typical one, in a channel Loop already knows.
  const { type: statusType } = await signer.send(env.worker.url, JSON.stringify(interactionBody("status")));
  if (statusType !== 4) throw new Error(`/loop status answered type ${statusType}, expected 4`);
  stepsScript("askjob");
  const ask = await measure("ask", async () => {
    const { type } = await sendAsk("Run the nine steps");
    if (type !== 5) throw new Error(`/loop ask answered type ${type}, expected 5 (deferred)`);
  });

  // The task is created outside the window: that is a one-time cost, not the job's.
  stepsScript("taskjob");
  const channelId = CHANNEL; // a Discord channel's row has the Discord id as its own
  const at = new Date(Date.now() + 6_000).toISOString();
  const created = await env.api("POST", "/api/tasks", { channel_id: channelId, type: "once", schedule: at, prompt: "Run the nine steps on schedule" });
  if (created.status !== 201) throw new Error(`task: ${created.status} ${JSON.stringify(created.body)}`);
  await sleep(1_000);
  const scheduled = await measure("scheduled", async () => {});

  // ---- tables ----------------------------------------------------------------------------
  const figures = [];
  for (const l of [ask, scheduled]) {
    const besidesEvents = l.rowsWritten - l.eventRowsWritten;
    const budget = (limit: number, idleUse: number, perJob: number) => (perJob > 0 ? Math.floor((limit - idleUse) / perJob) : Infinity);
    const caps = {
      "Worker requests": budget(FREE.workerRequests, idleDay.workerRequests, l.workerRequests),
      "DO requests": budget(FREE.doRequests, idleDay.doRequests, l.doRequests),
      "D1 rows read": budget(FREE.d1RowsRead, idleDay.rowsRead, l.rowsRead),
      "D1 rows written": budget(FREE.d1RowsWritten, idleDay.rowsWritten, l.rowsWritten),
    };
    const [limitedBy, jobsPerDay] = Object.entries(caps).sort((x, y) => x[1] - y[1])[0]!;
    console.log(`\n${l.kind} job (20 stream events)`);
    const mcp = [...l.workerByRoute].filter(([r]) => / \/mcp\b/.test(r)).reduce((n, [, c]) => n + c, 0);
    console.log(`  Worker requests   ${l.workerRequests} (the agent's own MCP calls ${mcp}, the rest ${l.workerRequests - mcp})`);
    for (const [route, n] of [...l.workerByRoute].sort()) console.log(`    ${String(n).padStart(3)}  ${route}`);
    console.log(`  DO requests       ${l.doRequests}`);
    for (const [m, n] of [...l.doByMethod].sort()) console.log(`    ${String(n).padStart(3)}  ${m}`);
    console.log(`  D1 rows read      ${l.rowsRead}`);
    console.log(`  D1 rows written   ${l.rowsWritten} (event rows ${l.eventRowsWritten}, besides them ${besidesEvents})`);
    for (const [q, n] of [...l.writtenBySql].sort((x, y) => y[1] - x[1])) console.log(`    ${String(n).padStart(3)}  ${q}`);
    console.log(`  Discord API calls ${l.discordCalls}`);
    for (const [r, n] of [...l.discordByRoute].sort()) console.log(`    ${String(n).padStart(3)}  ${r}`);
    console.log(`  free tier, with one idle runner: ${jobsPerDay} such jobs a day (limited by ${limitedBy}; ${Object.entries(caps).map(([k, v]) => `${k} ${v}`).join(", ")})`);
    figures.push(
      { bench: "cost", figure: `${l.kind}: Worker requests per job`, value: l.workerRequests, unit: "", goal: "≤ 8" },
      { bench: "cost", figure: `${l.kind}: of which the agent's MCP handshake and calls`, value: mcp, unit: "" },
      { bench: "cost", figure: `${l.kind}: D1 rows written per job besides event rows`, value: besidesEvents, unit: "", goal: "≤ 25" },
      { bench: "cost", figure: `${l.kind}: D1 rows read per job`, value: l.rowsRead, unit: "" },
      { bench: "cost", figure: `${l.kind}: DO requests per job`, value: l.doRequests, unit: "" },
      { bench: "cost", figure: `${l.kind}: Discord API calls per job`, value: l.discordCalls, unit: "" },
      { bench: "cost", figure: `${l.kind}: jobs a day on the free tier (${limitedBy})`, value: jobsPerDay, unit: "" },
    );
  }
  report([{ bench: "cost", figure: "idle runner: Worker requests a day", value: Math.round(idleDay.workerRequests), unit: "", goal: "≤ 1000" }, ...figures]);
} finally {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
  }
  await discord.close();
  await env.close();
}
