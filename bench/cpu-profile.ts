/**
 * bench/cpu's window on an isolate: a Chrome DevTools Protocol client (`ws`) on workerd's
 * inspector, driving V8's CPU profiler (Profiler.enable /
 * setSamplingInterval / start / stop), and the arithmetic that turns a profile into CPU time.
 *
 * How a profile becomes CPU milliseconds (and why not the obvious sum of timeDeltas):
 * workerd's isolate is sampled only while it runs. Inside a burst of work the samples come
 * every ~0.1–0.2 ms; between two requests there are none, and the next sample's timeDelta
 * carries the whole gap (tens of ms of nothing, on a loaded machine). Summing timeDeltas per
 * node therefore charges the idle time between requests to whatever code runs first in the
 * next one: that is how a first look measured 4.3 ms for the 404 route. So CPU here is
 * (samples that are not `(idle)` or `(root)`) × the profile's median sampling period.
 * Included: JS, `(program)` (native code running for the isolate: workerd's APIs, JSON,
 * WebCrypto) and `(garbage collector)` — Cloudflare's CPU limit counts all three.
 * Excluded: `(idle)` (the isolate waiting on I/O) and `(root)`.
 */
import WebSocket from "ws";

export interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Requested sampling period, µs. workerd reaches ~150–200 µs under the profiler's own cost. */
const SAMPLING_INTERVAL_US = 100;
const NOT_CPU = new Set(["(idle)", "(root)"]);

export interface Profiler {
  start(): Promise<void>;
  stop(): Promise<CpuProfile>;
  /** A script's source (the Worker's bundle), for mapping frames to modules. */
  source(scriptId: string): Promise<string>;
  /** Ends the session, resolved once workerd closed it (it then accepts the next one). */
  close(): Promise<void>;
}

/** How long attachProfiler keeps trying while workerd still holds the previous session. */
const ATTACH_TIMEOUT_MS = 15_000;
const ATTACH_RETRY_MS = 200;

/**
 * Connects to one isolate's inspector (a DevTools WebSocket URL: see workerdInspector in
 * cpu-split.ts). workerd serves one inspector session at a time, across all its isolates: it
 * accepts a second connection and closes it at once, also for a moment after the previous
 * one closed. So close a session before attaching to another isolate; the attach retries
 * until workerd keeps the connection (answers Profiler.enable).
 */
export async function attachProfiler(url: string): Promise<Profiler> {
  const deadline = Date.now() + ATTACH_TIMEOUT_MS;
  for (;;) {
    try {
      return await attachOnce(url);
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`could not attach to ${url} within ${ATTACH_TIMEOUT_MS / 1000} s (is another inspector session open?): ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, ATTACH_RETRY_MS));
    }
  }
}

async function attachOnce(url: string): Promise<Profiler> {
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let nextId = 0;
  const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  ws.on("message", (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!waiter) return; // an event (Runtime.consoleAPICalled, …): not ours
    pending.delete(msg.id!);
    if (msg.error) waiter.reject(new Error(`CDP: ${msg.error.message}`));
    else waiter.resolve(msg.result);
  });
  // A closed session answers nothing more: fail what waits rather than hang.
  ws.on("close", (code) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`the inspector closed the session (${code})`));
    pending.clear();
  });
  const send = <T = unknown>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve, reject) => {
      if (ws.readyState !== WebSocket.OPEN) return reject(new Error("the inspector session is closed"));
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await send("Profiler.enable");
    // V8 refuses a new interval while profiling, so it is set once, before any start.
    await send("Profiler.setSamplingInterval", { interval: SAMPLING_INTERVAL_US });
  } catch (e) {
    ws.terminate();
    throw e;
  }
  return {
    start: () => send("Profiler.start").then(() => undefined),
    stop: async () => (await send<{ profile: CpuProfile }>("Profiler.stop")).profile,
    // The debugger is on only to read the source, never while a profile runs.
    source: async (scriptId) => {
      await send("Debugger.enable");
      try {
        return (await send<{ scriptSource: string }>("Debugger.getScriptSource", { scriptId })).scriptSource;
      } finally {
        await send("Debugger.disable");
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once("close", () => resolve());
        ws.close();
      }),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
};

/**
 * Deltas longer than this are gaps between bursts of work, not the sampling period. The median
 * of ALL deltas is the period only when most samples fall inside bursts: on an idle machine a
 * cheap route (the no-op: a few samples per request, each request a gap) has more gaps than
 * in-burst deltas, and the median became the gap (the no-op read 9.8 ms, quiet, instead of ~0.4).
 */
const MAX_PERIOD_US = 10 * SAMPLING_INTERVAL_US;
/** The sampling period inside bursts of work: the median of the deltas that are not gaps. */
const samplingPeriod = (profile: CpuProfile) => median(profile.timeDeltas.filter((d) => d > 0 && d <= MAX_PERIOD_US));

/**
 * CPU time in the profile, in µs, by the method in the header comment; `inDo` is the part
 * whose stack passes through a frame `isDo` says is Durable Object code. That share is a lower
 * bound: code resumed after an await in a library (drizzle mapping D1 rows for a DO) has only
 * the library's frames on its stack.
 */
export function cpuMicros(profile: CpuProfile, isDo: (f: CallFrame) => boolean = () => false): { cpuUs: number; doUs: number; periodUs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const doNode = new Map<number, boolean>();
  const inDo = (id: number): boolean => {
    let v = doNode.get(id);
    if (v === undefined) {
      const p = parent.get(id);
      v = isDo(byId.get(id)!.callFrame) || (p !== undefined && inDo(p));
      doNode.set(id, v);
    }
    return v;
  };
  const periodUs = samplingPeriod(profile);
  let samples = 0;
  let doSamples = 0;
  for (const id of profile.samples) {
    if (NOT_CPU.has(byId.get(id)!.callFrame.functionName)) continue;
    samples++;
    if (inDo(id)) doSamples++;
  }
  return { cpuUs: samples * periodUs, doUs: doSamples * periodUs, periodUs };
}

/**
 * The heaviest functions by self time (same sample × period rule), for finding what to cut:
 * `BENCH_CPU_TOP=8 npm run bench -- cpu`. `where` maps a frame to its source module when the
 * bundle is unminified (see sourceOf in cpu.ts); otherwise the frame's line and column.
 */
export function topSelf(profile: CpuProfile, k: number, where: (f: CallFrame) => string): { name: string; us: number }[] {
  const periodUs = samplingPeriod(profile);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map<string, number>();
  for (const id of profile.samples) {
    const f = byId.get(id)!.callFrame;
    if (NOT_CPU.has(f.functionName)) continue;
    const name = f.url ? `${f.functionName || "(anonymous)"} ${where(f)}` : f.functionName || "(native)";
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts]
    .sort((a, b) => b[1] - a[1])
    .slice(0, k)
    .map(([name, n]) => ({ name, us: n * periodUs }));
}
