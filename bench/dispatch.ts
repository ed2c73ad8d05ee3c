/**
 * bench/dispatch: how fast a run reaches a parked runner, and an event reaches a watcher.
 * Against `wrangler dev` (local workerd). Baseline, measured side by side: the round trip of
 * GET /api/health, i.e. the cost of one HTTP request to the local Worker.
 *   dispatch: POST /api/runs sent → the parked claim returns the job (1,000 runs)
 *   events:   POST …/events sent → the SSE watcher reads that seq (200 events)
 * Goals: dispatch p99 ≤ 100 ms, event delivery p95 ≤ 250 ms.
 */
import { startWorker } from "../test/support/worker.ts";
import { client, median, percentile, report, round } from "./lib.ts";

const RUNS = Number(process.env.BENCH_RUNS ?? 1000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 200);

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
  for (let i = 0; i < RUNS; i++) {
    const claim = asRunner("POST", "/runner/v1/claim", { wait_ms: 20_000 });
    await new Promise((r) => setTimeout(r, 15)); // let the claim park in the Dispatcher
    const t0 = performance.now();
    const created = admin("POST", "/api/runs", { channel_id: channel.id, prompt: `run ${i}` });
    const job = await claim;
    dispatch.push(performance.now() - t0);
    await created;
    if (job.status !== 200) throw new Error(`claim ${i} answered ${job.status}`);
    await asRunner("POST", `/runner/v1/runs/${job.body.run_id}/complete`, { lease_id: job.body.lease_id, status: "succeeded" });
  }

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
  console.log(`baseline  GET /api/health       p50 ${round(base)} ms`);
  console.log(`dispatch  run created → claimed  p50 ${round(median(dispatch))} ms  p99 ${round(percentile(dispatch, 99))} ms  (p50 ${round(median(dispatch) / base)}× baseline)`);
  console.log(`events    posted → SSE watcher   p50 ${round(median(delivery))} ms  p95 ${round(percentile(delivery, 95))} ms  (${delivery.length}/${EVENTS} seen)`);
  report([
    { bench: "dispatch", figure: "baseline: GET /api/health p50", value: round(base), unit: "ms" },
    { bench: "dispatch", figure: "run created → claimed p50", value: round(median(dispatch)), unit: "ms" },
    { bench: "dispatch", figure: "run created → claimed p99", value: round(percentile(dispatch, 99)), unit: "ms", goal: "≤ 100" },
    { bench: "dispatch", figure: "event posted → SSE watcher p95", value: round(percentile(delivery, 95)), unit: "ms", goal: "≤ 250" },
    { bench: "dispatch", figure: "events lost", value: EVENTS - delivery.length, unit: "", goal: "≤ 0" },
  ]);
} finally {
  await worker.stop();
}
