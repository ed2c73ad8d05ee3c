/**
 * bench/mcp: tools/call latency on the stateless /mcp endpoint, against `wrangler dev`
 * (local workerd, local D1). The SDK's Client over Streamable HTTP, one call at a time, in
 * MCP 2026-07-28 as Claude Code speaks it (server/discover, then `_meta` on every request).
 * Baseline, measured side by side: GET /api/tasks for the same channel, i.e. the same
 * domain work over REST, so the difference is what MCP (a fresh server per request,
 * JSON-RPC, schema checks) costs.
 *   list_tasks:    BENCH_MCP_LIST calls (default 500) on a channel holding 20 tasks
 *   schedule_task: BENCH_MCP_SCHEDULE calls (default 200), each a D1 insert + an alarm re-arm
 * Prints figures only; nothing here asserts.
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { startWorker } from "../test/support/worker.ts";
import { client, median, percentile, report, round } from "./lib.ts";

const LIST_CALLS = Number(process.env.BENCH_MCP_LIST ?? 500);
const SCHEDULE_CALLS = Number(process.env.BENCH_MCP_SCHEDULE ?? 200);
const SEEDED_TASKS = 20;
const WARMUP = 20;

async function timed(n: number, fn: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const worker = await startWorker();
try {
  const admin = client(worker.url, worker.adminToken);
  const { body: channel } = await admin("POST", "/api/channels", { dir_path: "/bench/mcp" });
  for (let i = 0; i < SEEDED_TASKS; i++) {
    await admin("POST", "/api/tasks", { channel_id: channel.id, type: "interval", schedule: `${i + 1}h`, prompt: `seeded task ${i}` });
  }

  const mcp = new Client({ name: "bench", version: "1" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`${worker.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${worker.adminToken}` } } }),
  );
  const call = async (name: string, args: Record<string, unknown>) => {
    const r = await mcp.callTool({ name, arguments: args });
    if (r.isError) throw new Error(`${name} failed: ${JSON.stringify(r.content)}`);
  };

  // Warm both paths so the first figures are not the isolate's cold start.
  await timed(WARMUP, () => call("list_tasks", { channel_id: channel.id }));
  await timed(WARMUP, () => admin("GET", `/api/tasks?channel_id=${channel.id}`).then(() => undefined));

  console.log(`baseline: ${LIST_CALLS} × GET /api/tasks (${SEEDED_TASKS} tasks)`);
  const rest = await timed(LIST_CALLS, async () => {
    const r = await admin("GET", `/api/tasks?channel_id=${channel.id}`);
    if (r.status !== 200) throw new Error(`GET /api/tasks answered ${r.status}`);
  });
  console.log(`list_tasks: ${LIST_CALLS} calls`);
  const list = await timed(LIST_CALLS, () => call("list_tasks", { channel_id: channel.id }));
  console.log(`schedule_task: ${SCHEDULE_CALLS} calls`);
  const schedule = await timed(SCHEDULE_CALLS, (i) => call("schedule_task", { channel_id: channel.id, type: "interval", schedule: "30m", prompt: `bench task ${i}` }));
  await mcp.close();

  const line = (what: string, xs: number[]) => console.log(`${what.padEnd(34)} p50 ${round(median(xs))} ms  p99 ${round(percentile(xs, 99))} ms`);
  line("baseline  GET /api/tasks", rest);
  line("tools/call list_tasks", list);
  line("tools/call schedule_task", schedule);
  report([
    { bench: "mcp", figure: "baseline: GET /api/tasks p50", value: round(median(rest)), unit: "ms" },
    { bench: "mcp", figure: "tools/call list_tasks p50", value: round(median(list)), unit: "ms" },
    { bench: "mcp", figure: "tools/call list_tasks p99", value: round(percentile(list, 99)), unit: "ms" },
    { bench: "mcp", figure: "tools/call schedule_task p50", value: round(median(schedule)), unit: "ms" },
    { bench: "mcp", figure: "tools/call schedule_task p99", value: round(percentile(schedule, 99)), unit: "ms" },
  ]);
} finally {
  await worker.stop();
}
