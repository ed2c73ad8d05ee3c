/**
 * bench/scheduler: fire lateness at scale. Against `wrangler dev` (local workerd, whose DO
 * alarms fire by themselves): 10,000 enabled once-tasks over 1,000 channels, due times
 * spread evenly over a few minutes. Lateness = run created − scheduled_for, read back from
 * the runs. Also counts duplicate runs per occurrence (must be 0) and occurrences that never
 * fired. Goals: p99 ≤ 1 s, 0 duplicates.
 */
import { startWorker } from "../test/support/worker.ts";
import { client, percentile, pool, report, round } from "./lib.ts";

const TASKS = Number(process.env.BENCH_TASKS ?? 10_000);
const CHANNELS = Number(process.env.BENCH_CHANNELS ?? 1_000);
const SPREAD_MS = Number(process.env.BENCH_SPREAD_MS ?? 180_000);

const worker = await startWorker();
try {
  const admin = client(worker.url, worker.adminToken);
  console.log(`creating ${CHANNELS} channels`);
  const channels: string[] = [];
  await pool([...Array(CHANNELS).keys()], 16, async (i) => {
    const { body } = await admin("POST", "/api/channels", { dir_path: `/bench/scheduler/${i}` });
    channels[i] = body.id;
  });

  // Due times start after creation is expected to end; measured rate from a first slice.
  const started = Date.now();
  const firstDue = started + 90_000;
  console.log(`creating ${TASKS} once-tasks due between +90 s and +${(90_000 + SPREAD_MS) / 1000} s`);
  let refused = 0;
  await pool([...Array(TASKS).keys()], 16, async (i) => {
    const at = new Date(firstDue + Math.floor((i / TASKS) * SPREAD_MS)).toISOString();
    const res = await admin("POST", "/api/tasks", { channel_id: channels[i % CHANNELS], type: "once", schedule: at, prompt: `task ${i}` });
    if (res.status !== 201) refused++;
  });
  console.log(`created in ${round((Date.now() - started) / 1000)} s (${refused} refused); waiting for every occurrence to fire`);

  const lastDue = firstDue + SPREAD_MS;
  type RunRow = { id: number; task_id: number; scheduled_for: string; created_at: string };
  const fetchRuns = async (): Promise<RunRow[]> => {
    const out: RunRow[] = [];
    let before: number | undefined;
    for (;;) {
      const q = `/api/runs?limit=200${before ? `&before=${before}` : ""}`;
      const { body } = await admin<{ runs: RunRow[] }>("GET", q);
      out.push(...body.runs);
      if (body.runs.length < 200) return out;
      before = body.runs.at(-1)!.id;
    }
  };
  let runs: RunRow[] = [];
  while (Date.now() < lastDue + 60_000) {
    await new Promise((r) => setTimeout(r, Math.max(5_000, Math.min(30_000, lastDue - Date.now()))));
    if (Date.now() < lastDue) {
      console.log(`  ${round((lastDue - Date.now()) / 1000, 0)} s of due times left`);
      continue;
    }
    runs = await fetchRuns();
    console.log(`  ${runs.length} runs so far`);
    if (runs.length >= TASKS - refused) break;
  }

  const byOccurrence = new Map<string, number>();
  for (const r of runs) byOccurrence.set(`${r.task_id}@${r.scheduled_for}`, (byOccurrence.get(`${r.task_id}@${r.scheduled_for}`) ?? 0) + 1);
  const duplicates = [...byOccurrence.values()].reduce((n, c) => n + c - 1, 0);
  const lateness = runs.map((r) => Date.parse(r.created_at) - Date.parse(r.scheduled_for));
  const missing = TASKS - refused - byOccurrence.size;
  const p50 = percentile(lateness, 50);
  const p99 = percentile(lateness, 99);
  const max = Math.max(...lateness);
  console.log(`lateness (run created − scheduled_for) p50 ${p50} ms  p99 ${p99} ms  max ${max} ms over ${runs.length} runs`);
  console.log(`duplicates ${duplicates}  never fired ${missing}  refused at creation ${refused}`);
  report([
    { bench: "scheduler", figure: `fire lateness p50 (${TASKS} tasks, ${CHANNELS} channels)`, value: p50, unit: "ms" },
    { bench: "scheduler", figure: "fire lateness p99", value: p99, unit: "ms", goal: "≤ 1000" },
    { bench: "scheduler", figure: "fire lateness max", value: max, unit: "ms" },
    { bench: "scheduler", figure: "duplicate runs", value: duplicates, unit: "", goal: "≤ 0" },
    { bench: "scheduler", figure: "occurrences never fired", value: missing, unit: "", goal: "≤ 0" },
  ]);
} finally {
  await worker.stop();
}
