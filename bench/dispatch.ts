/**
 * bench/dispatch: how fast a run reaches a parked runner, and an event reaches a watcher.
 * Against `wrangler dev` (local workerd). Baseline, measured side by side: the round trip of
 * GET /api/health, i.e. the cost of one HTTP request to the local Worker.
 *   dispatch: POST /api/runs sent → the parked claim returns the job (1,000 runs)
 *   budgets:  the same, on a channel whose daily and monthly caps are set and with global
 *             caps set, interleaved run by run with a channel without any cap, after
 *             BENCH_HISTORY runs finished today (half in the capped channel), so every cap's
 *             sum has a realistic period to cover (issue 14)
 *   events:   POST …/events sent → the SSE watcher reads that seq (200 events)
 * D1 statements and rows read per run, from creation to the claim, are counted by a second,
 * metered Worker (bench/meter) on the same two kinds of channel.
 * Goals: dispatch p99 ≤ 100 ms, event delivery p95 ≤ 250 ms; the budget check adds ≤ 1 D1
 * statement and ≤ 10 % to created → claimed p50.
 */
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { startWorker } from "../test/support/worker.ts";
import { client, median, percentile, report, round, type Figure } from "./lib.ts";
import { meteredConfig, meterEvents } from "./meter-config.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);
/** Runs finished today before the budget comparison starts: what each cap's sum covers. */
const HISTORY = Number(process.env.BENCH_HISTORY ?? 10_000);
const METERED_RUNS = Number(process.env.BENCH_METERED_RUNS ?? 50);
/** Caps nobody reaches: the check runs in full and always lets the run start. */
const HIGH_CAPS = { daily_usd: 900_000, monthly_usd: 1_000_000 };
const NO_CAPS = { daily_usd: null, monthly_usd: null };
const ROOT = resolve(import.meta.dirname, "..");
const exec = promisify(execFile);

type Call = ReturnType<typeof client>;
type TestWorker = Awaited<ReturnType<typeof startWorker>>;

/** Run `n` is created with the claim already parked; returns ms from the create request sent to the job received. */
async function dispatchOne(admin: Call, asRunner: Call, channelId: string, n: number): Promise<number> {
  const claim = asRunner("POST", "/runner/v1/claim", { wait_ms: 20_000 });
  await new Promise((r) => setTimeout(r, 15)); // let the claim park in the Dispatcher
  const t0 = performance.now();
  const created = admin("POST", "/api/runs", { channel_id: channelId, prompt: `run ${n}` });
  const job = await claim;
  const ms = performance.now() - t0;
  const made = await created;
  if (made.status !== 201) throw new Error(`run ${n}: POST /api/runs answered ${made.status}`);
  if (job.status !== 200) throw new Error(`claim ${n} answered ${job.status}`);
  if (job.body.channel_id !== channelId) throw new Error(`claim ${n} got another channel's job`);
  await asRunner("POST", `/runner/v1/runs/${job.body.run_id}/complete`, { lease_id: job.body.lease_id, status: "succeeded", cost_usd: 0.0001 });
  return ms;
}

/**
 * HISTORY runs finished earlier today, half in `capped`, half in `other`, written straight
 * into the local D1 (one INSERT … SELECT): the Worker has no route that makes finished runs.
 */
async function seedHistory(worker: TestWorker, config: string | undefined, capped: string, other: string): Promise<void> {
  if (!HISTORY) return;
  const now = Date.now();
  const dayStart = now - (now % 86_400_000);
  const sql = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${HISTORY})
INSERT INTO runs (channel_id, trigger, status, prompt, created_at, started_at, finished_at, cost_usd, input_tokens, output_tokens)
SELECT CASE WHEN i % 2 = 0 THEN '${capped}' ELSE '${other}' END, 'api', 'succeeded', 'history', ${dayStart} + i, ${dayStart} + i, ${dayStart} + i * ${Math.max(1, Math.floor((now - dayStart) / (HISTORY + 1)))}, 0.0001, 10, 1 FROM n`;
  await exec(join(ROOT, "node_modules/.bin/wrangler"), ["d1", "execute", "DB", "--local", "--persist-to", worker.persistDir, ...(config ? ["--config", config] : []), "--command", sql], {
    cwd: ROOT,
    env: { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false", PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` },
  });
}

/** Two channels (one capped, one not) and one to hold the other half of the history. */
async function budgetSetup(worker: TestWorker, config?: string) {
  const admin = client(worker.url, worker.adminToken);
  const { body: runner } = await admin("POST", "/api/runners", { name: "bench-budget", labels: ["budget-bench"] });
  const asRunner = client(worker.url, runner.token);
  const make = async (dir: string) => {
    const { body } = await admin("POST", "/api/channels", { dir_path: dir });
    await admin("PATCH", `/api/channels/${body.id}`, { runner_label: "budget-bench" });
    return body.id as string;
  };
  const plain = await make("/bench/dispatch-uncapped");
  const capped = await make("/bench/dispatch-capped");
  const other = await make("/bench/dispatch-history");
  await admin("PUT", `/api/channels/${capped}/budget`, HIGH_CAPS);
  await seedHistory(worker, config, capped, other);
  /** The global caps apply to every channel: set them only around the capped channel's runs. */
  const arm = async (withCaps: boolean, n: number) => {
    await admin("PUT", "/api/budget", withCaps ? HIGH_CAPS : NO_CAPS);
    return dispatchOne(admin, asRunner, withCaps ? capped : plain, n);
  };
  return { arm, admin };
}

const figures: Figure[] = [];
const worker = await startWorker();
try {
  const admin = client(worker.url, worker.adminToken);
  const { body: runner } = await admin("POST", "/api/runners", { name: "bench", labels: [] });
  const asRunner = client(worker.url, runner.token);
  const { body: channel } = await admin("POST", "/api/channels", { dir_path: "/bench/dispatch" });

  const health: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await fetch(`${worker.url}/api/health`);
    health.push(performance.now() - t0);
  }

  console.log(`dispatch: ${RUNS} runs, one at a time, each to a claim parked before the run exists`);
  const dispatch: number[] = [];
  for (let i = 0; i < RUNS; i++) dispatch.push(await dispatchOne(admin, asRunner, channel.id, i));

  console.log(`budgets: ${RUNS} runs on a channel with daily, monthly and global caps, interleaved with ${RUNS} on a channel without, after ${HISTORY} runs finished today`);
  const budgets = await budgetSetup(worker);
  const uncapped: number[] = [];
  const capped: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternate which goes first, so neither arm always follows the other.
    if (i % 2) capped.push(await budgets.arm(true, i)), uncapped.push(await budgets.arm(false, i));
    else uncapped.push(await budgets.arm(false, i)), capped.push(await budgets.arm(true, i));
  }
  await budgets.admin("PUT", "/api/budget", NO_CAPS);

  console.log(`events: ${EVENTS} events posted one by one to a run with an SSE watcher`);
  const claimP = asRunner("POST", "/runner/v1/claim", { wait_ms: 20_000 });
  await new Promise((r) => setTimeout(r, 15));
  await admin("POST", "/api/runs", { channel_id: channel.id, prompt: "events" });
  const job = (await claimP).body;
  const seen = new Map<number, number>();
  const stream = await fetch(`${worker.url}/api/runs/${job.run_id}/stream`, { headers: { authorization: `Bearer ${worker.adminToken}` } });
  const reader = stream.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      for (const m of buffer.matchAll(/^id: (\d+)$/gm)) if (!seen.has(Number(m[1]))) seen.set(Number(m[1]), performance.now());
      buffer = buffer.slice(buffer.lastIndexOf("\n\n") + 2);
    }
  })();
  const sent = new Map<number, number>();
  for (let seq = 1; seq <= EVENTS; seq++) {
    sent.set(seq, performance.now());
    await asRunner("POST", `/runner/v1/runs/${job.run_id}/events`, { lease_id: job.lease_id, events: [{ seq, at: Date.now(), data: { type: "text", text: `event ${seq}` } }] });
  }
  const deadline = Date.now() + 10_000;
  while (seen.size < EVENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await asRunner("POST", `/runner/v1/runs/${job.run_id}/complete`, { lease_id: job.lease_id, status: "succeeded" });
  await reading;
  const delivery = [...sent].filter(([s]) => seen.has(s)).map(([s, t]) => seen.get(s)! - t);

  const base = median(health);
  const overhead = (median(capped) / median(uncapped) - 1) * 100;
  console.log(`baseline  GET /api/health       p50 ${round(base)} ms`);
  console.log(`dispatch  run created → claimed  p50 ${round(median(dispatch))} ms  p99 ${round(percentile(dispatch, 99))} ms  (p50 ${round(median(dispatch) / base)}× baseline)`);
  console.log(`budgets   no caps                 p50 ${round(median(uncapped))} ms  p99 ${round(percentile(uncapped, 99))} ms`);
  console.log(`budgets   4 caps, ${HISTORY} runs today  p50 ${round(median(capped))} ms  p99 ${round(percentile(capped, 99))} ms  (p50 ${overhead >= 0 ? "+" : ""}${round(overhead)} %)`);
  console.log(`events    posted → SSE watcher   p50 ${round(median(delivery))} ms  p95 ${round(percentile(delivery, 95))} ms  (${delivery.length}/${EVENTS} seen)`);
  figures.push(
    { bench: "dispatch", figure: "baseline: GET /api/health p50", value: round(base), unit: "ms" },
    { bench: "dispatch", figure: "run created → claimed p50", value: round(median(dispatch)), unit: "ms" },
    { bench: "dispatch", figure: "run created → claimed p99", value: round(percentile(dispatch, 99)), unit: "ms", goal: "≤ 100" },
    { bench: "dispatch", figure: "created → claimed p50, channel without caps (side by side)", value: round(median(uncapped)), unit: "ms" },
    { bench: "dispatch", figure: `created → claimed p50, daily+monthly caps on channel and global, ${HISTORY} runs today`, value: round(median(capped)), unit: "ms" },
    { bench: "dispatch", figure: "budget check: added to created → claimed p50", value: round(overhead), unit: "%", goal: "≤ 10" },
    { bench: "dispatch", figure: "event posted → SSE watcher p95", value: round(percentile(delivery, 95)), unit: "ms", goal: "≤ 250" },
    { bench: "dispatch", figure: "events lost", value: EVENTS - delivery.length, unit: "", goal: "≤ 0" },
  );
} finally {
  await worker.stop();
}

// ---- D1 statements per run, counted by the metered build --------------------------------
const config = meteredConfig();
const metered = await startWorker({ config, vars: { LOG_LEVEL: "error" } });
try {
  const budgets = await budgetSetup(metered, config);
  const count = async (withCaps: boolean) => {
    let statements = 0;
    let rowsRead = 0;
    const startCheck: number[] = [];
    for (let i = 0; i < METERED_RUNS; i++) {
      const from = meterEvents(metered.output()).length;
      await budgets.arm(withCaps, i);
      const events = meterEvents(metered.output()).slice(from);
      // The window: from POST /api/runs (after arm's PUT /api/budget) to the runner's complete call.
      const end = events.findIndex((e) => e.k === "worker" && e.route.endsWith("/complete"));
      const createdAt = events.findIndex((e) => e.k === "worker" && e.route === "POST /api/runs");
      const window = events.slice(createdAt, end < 0 ? undefined : end).filter((e) => e.k === "d1");
      statements += window.length;
      for (const e of window) if (e.k === "d1") rowsRead += e.read;
      const check = window.find((e) => e.k === "d1" && e.sql.includes("runner_label AS runner_label"));
      if (check?.k === "d1") startCheck.push(check.read);
    }
    return { statements: statements / METERED_RUNS, rowsRead: rowsRead / METERED_RUNS, startCheckRows: median(startCheck) };
  };
  const without = await count(false);
  const withCaps = await count(true);
  console.log(`D1 per run, created → claimed (metered build, ${METERED_RUNS} runs each, ${HISTORY} runs finished today)`);
  console.log(`  no caps    ${round(without.statements, 2)} statements, ${round(without.rowsRead)} rows read (start check ${without.startCheckRows})`);
  console.log(`  4 caps     ${round(withCaps.statements, 2)} statements, ${round(withCaps.rowsRead)} rows read (start check ${withCaps.startCheckRows})`);
  figures.push(
    { bench: "dispatch", figure: "D1 statements per run created → claimed, no caps", value: round(without.statements, 2), unit: "" },
    { bench: "dispatch", figure: "D1 statements the budget check adds per run", value: round(withCaps.statements - without.statements, 2), unit: "", goal: "≤ 1" },
    { bench: "dispatch", figure: `D1 rows read by the start check, 4 caps, ${HISTORY} runs today`, value: withCaps.startCheckRows, unit: "" },
  );
} finally {
  await metered.stop();
}
report(figures);
