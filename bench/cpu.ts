/**
 * bench/cpu: CPU time per request, per route kind, as the Workers Free plan counts it
 * (10 ms per invocation; error 1102 past it). `wrangler dev` (local workerd, local D1) runs
 * the Worker and its Durable Objects as two workers (cpu-split.ts), so the Worker's isolate
 * does the Worker's work alone, as on Cloudflare, where a DO call is an invocation of its own
 * with its own CPU limit. V8's CPU profiler over workerd's inspector (bench/cpu-profile.ts says
 * how samples become milliseconds). For each kind: a warm-up, then BENCH_CPU_N requests (100)
 * one at a time inside one profile, and the profile's CPU ÷ N. workerd profiles one isolate at
 * a time, so each round runs every kind twice: once profiling the Worker's isolate, once the
 * Durable Objects'. BENCH_CPU_ROUNDS rounds (3), the kinds interleaved, and the median taken.
 *
 * The baseline is the no-op route, `GET /discord/nope` (routing + the app's 404), measured in
 * the same round: a route's own CPU is its figure minus the no-op's, and the ratio is its
 * figure ÷ the no-op's. Both cancel what every request pays here and not on Cloudflare
 * (the profiler's sampling, wrangler's dev proxy, a loaded machine).
 *
 * Two builds: the dev bundle (wrangler bundling worker/index.ts, unminified), and the
 * production bundle (`wrangler deploy --dry-run --minify --outdir`) served as is by both
 * workers (`no_bundle`), i.e. what would be deployed. BENCH_CPU_BUILDS=dev|prod picks one.
 *
 * A figure includes everything the isolate does for the request, also after the answer
 * (waitUntil work, the live Discord message's edits). The Durable Objects' column is the CPU
 * the same requests cause in the objects' isolate (the Dispatcher, the ChannelSessions). In
 * the dev bundle the bench checks the split: the Worker's profile must hold no Durable Object
 * code (it stops with an error otherwise). bench/cpu.md gives the figures and the estimate for
 * Cloudflare.
 *
 * BENCH_CPU_TOP=8 also prints each kind's heaviest functions (self time), for finding cuts.
 * BENCH_CPU_KINDS=MCP measures only the kinds whose names start so (and the no-op).
 * Prints figures; the one thing it checks is the split (above).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { ChannelKind, InteractionKind, OptionType } from "../protocol/discord-constants.ts";
import { MCP_PATH } from "../protocol/mcp.ts";
import { RUNNER_PATH, type Job } from "../protocol/runner.ts";
import { startFakeDiscord } from "../test/fakes/discord.ts";
import { startWorker, type TestWorker } from "../test/support/worker.ts";
import { attachProfiler, cpuMicros, topSelf, type CallFrame, type CpuProfile, type Profiler } from "./cpu-profile.ts";
import { workerdInspector, writeSplitConfigs } from "./cpu-split.ts";
import { client, median, report, round, type Figure } from "./lib.ts";
import { discordSigner } from "./signer.ts";

const N = Number(process.env.BENCH_CPU_N ?? 100);
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 3);
const WARMUP = 20;
const TOP = Number(process.env.BENCH_CPU_TOP ?? 0);
const BUILDS = (process.env.BENCH_CPU_BUILDS ?? "dev,prod").split(",");
/** BENCH_CPU_KINDS=MCP,REST: only the kinds whose name starts with one of these (and the no-op baseline). */
const ONLY = process.env.BENCH_CPU_KINDS?.split(",").filter(Boolean);
/** Background work a request leaves (waitUntil, live-message edits, DO alarms) ends inside its profile. */
const SETTLE_MS = 1_000;
/**
 * Before a profile starts, the isolate must be idle: the work an earlier kind left behind (the
 * asks' runs completed by the next drain, their Discord edits) would otherwise be charged to
 * the next kind. Idle: a QUIET_WINDOW_MS profile with less than QUIET_CPU_MS of CPU.
 */
const QUIET_WINDOW_MS = 250;
const QUIET_CPU_MS = 0.5;
const QUIET_TIMEOUT_MS = 20_000;
/** Tasks on the channel the list routes read (REST list, MCP list_tasks, Discord status). */
const LISTED_TASKS = 20;
/** Events in one runner batch: about what one assistant turn with a tool call produces. */
const EVENTS_PER_BATCH = 10;
const ROOT = resolve(import.meta.dirname, "..");
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
const BOT_TOKEN = "bench-bot-token";

/** The goals of issue 19, for a route's own CPU (figure − no-op) in the production build. */
const GOAL_MS: Record<string, number> = { rest: 2, mcp: 3, discord: 2, runner: 2 };

interface Kind {
  name: string;
  /** rest | mcp | discord | runner | cron | baseline: which goal applies. */
  surface: string;
  /** Before each batch of requests, outside the profile: what `count` requests need. */
  prepare?: (count: number) => Promise<void>;
  request: (i: number) => Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function expectStatus(res: Response, ok: number[], what: string): Promise<string> {
  const text = await res.text();
  if (!ok.includes(res.status)) throw new Error(`${what} answered ${res.status}: ${text.slice(0, 300)}`);
  return text;
}

/** Every route kind of the issue, against one Worker. */
async function kinds(worker: TestWorker, fakeDiscordUrl: string, signer: Awaited<ReturnType<typeof discordSigner>>): Promise<Kind[]> {
  const admin = client(worker.url, worker.adminToken);
  const { body: listed } = await admin("POST", "/api/channels", { dir_path: "/bench/cpu/listed" });
  const { body: writes } = await admin("POST", "/api/channels", { dir_path: "/bench/cpu/writes" });
  for (let i = 0; i < LISTED_TASKS; i++) {
    await admin("POST", "/api/tasks", { channel_id: listed.id, type: "interval", schedule: `${i + 1}h`, prompt: `listed task ${i}` });
  }
  const patchable: number[] = [];

  /** One JSON-RPC request to /mcp, failing on an HTTP or JSON-RPC error or a tool error. */
  const postMcp = (version: string, body: object, headers: Record<string, string> = {}) =>
    fetch(`${worker.url}${MCP_PATH}`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${worker.adminToken}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": version,
        ...headers,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, ...body }),
    }).then(async (res) => {
      const text = await expectStatus(res, [200], "MCP");
      const answer = JSON.parse(text) as { error?: unknown; result?: { isError?: boolean } };
      if (answer.error || answer.result?.isError) throw new Error(`MCP answered an error: ${text.slice(0, 300)}`);
    });
  const mcp = (body: object) => postMcp("2025-06-18", body);
  const tool = (name: string, args: object) => mcp({ method: "tools/call", params: { name, arguments: args } });
  // MCP 2026-07-28, as Claude Code sends it: no initialize; the version, client info and
  // capabilities in every request's _meta, the version and method (and a tool's name) in headers too.
  const MODERN = "2026-07-28";
  const modern = (method: string, params: Record<string, unknown> = {}) =>
    postMcp(
      MODERN,
      {
        method,
        params: {
          ...params,
          _meta: {
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": {},
          },
        },
      },
      { "mcp-method": method, ...(typeof params.name === "string" ? { "mcp-name": params.name } : {}) },
    );

  // Discord: interactions as bench/interactions.ts builds them, signed with a real key.
  let ids = 0n;
  const snowflake = () => String(((BigInt(Date.now()) - 1_420_070_400_000n) << 22n) | (ids++ & 0x3fffffn));
  const DISCORD_CHANNEL = "950000000000000003";
  const interaction = (type: number, data?: object, channel = DISCORD_CHANNEL) => {
    const id = snowflake();
    return {
      id,
      application_id: "950000000000000001",
      type,
      token: `bench-${id}`,
      version: 1,
      guild_id: "950000000000000002",
      channel_id: channel,
      channel: { id: channel, type: ChannelKind.GuildText, name: "bench" },
      member: { user: { id: "950000000000000004", username: "bench" }, permissions: "2048", roles: [] },
      ...(data ? { data: { id: "950000000000000001", name: "loop", type: 1, ...data } } : {}),
    };
  };
  const sub = (name: string, options: object[] = []) => ({ options: [{ type: OptionType.Subcommand, name, options }] });
  const signed = async (body: object, expect: number) => {
    const { type } = await signer.send(worker.url, JSON.stringify(body));
    if (type !== expect) throw new Error(`interaction answered type ${type}, expected ${expect}`);
  };
  for (let i = 0; i < 5; i++) {
    const opts = [
      { type: OptionType.String, name: "schedule", value: `${i + 1}h` },
      { type: OptionType.String, name: "prompt", value: `discord task ${i}` },
      { type: OptionType.String, name: "type", value: "interval" },
    ];
    await signed(interaction(InteractionKind.ApplicationCommand, sub("schedule", opts)), 4);
  }
  // Each ask goes to a channel of its own, as one channel runs one run at a time; the channels
  // exist before (a first /loop status makes each), as a channel people talk in does.
  const ASK_CHANNELS = Math.max(N, WARMUP);
  const askChannel = (i: number) => String(960000000000000000n + BigInt(i % ASK_CHANNELS));
  let askChannelsMade = false;
  const makeAskChannels = async () => {
    if (askChannelsMade) return;
    for (let i = 0; i < ASK_CHANNELS; i++) await signed(interaction(InteractionKind.ApplicationCommand, sub("status"), askChannel(i)), 4);
    askChannelsMade = true;
  };

  // The runner protocol: each round claims N jobs, posts a batch to each, completes each.
  const { body: runner } = await admin("POST", "/api/runners", { name: "bench-cpu", labels: [] });
  const runnerCall = (path: string, body: object) =>
    fetch(`${worker.url}${RUNNER_PATH}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${runner.token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const claim = async (): Promise<Job | null> => {
    const res = await runnerCall("/claim", { wait_ms: 0 });
    const text = await expectStatus(res, [200, 204], "claim");
    return res.status === 204 ? null : (JSON.parse(text) as Job);
  };
  const complete = (job: Job) =>
    runnerCall(`/runs/${job.run_id}/complete`, {
      lease_id: job.lease_id,
      status: "succeeded",
      result_text: "Done: the tests pass.",
      session_id: `sess-${job.run_id}`,
      usage: { input_tokens: 1200, output_tokens: 300 },
      cost_usd: 0.012,
      exit_code: 0,
      model: "claude-sonnet-4-5",
      duration_ms: 4200,
    }).then((res) => expectStatus(res, [200], "complete"));
  const batch = (job: Job) => {
    const at = Date.now();
    const events = Array.from({ length: EVENTS_PER_BATCH }, (_, k) => ({
      seq: job.first_seq + k,
      at,
      data:
        k % 3 === 0
          ? { type: "text", text: `Looking at the failing test, step ${k}: the fixture's clock is off by one hour.` }
          : k % 3 === 1
            ? { type: "tool_use", id: `tu_${k}`, name: "Bash", input: JSON.stringify({ command: "npm test -- --run clock" }) }
            : { type: "tool_result", tool_use_id: `tu_${k - 1}`, is_error: false, output: "✓ clock.test.ts (12 tests) 41ms\n".repeat(8) },
    }));
    return runnerCall(`/runs/${job.run_id}/events`, { lease_id: job.lease_id, events }).then((res) => expectStatus(res, [200], "events"));
  };
  const RUNNER_CHANNELS = Math.max(N, WARMUP);
  const runnerChannels: string[] = [];
  for (let i = 0; i < RUNNER_CHANNELS; i++) {
    runnerChannels.push((await admin("POST", "/api/channels", { dir_path: `/bench/cpu/runner-${i}` })).body.id);
  }
  let jobs: Job[] = [];
  /** Claims and completes whatever is pending (the asks' runs), so the round's claims get its own runs. */
  const drain = async () => {
    for (let job = await claim(); job; job = await claim()) await complete(job);
  };
  const queueRunnerRuns = async (count: number) => {
    await drain();
    for (let i = 0; i < count; i++) await admin("POST", "/api/runs", { channel_id: runnerChannels[i], prompt: "Fix the failing clock test." });
    // The channels hand their runs to the Dispatcher right after the answer.
    await sleep(500);
    jobs = [];
  };

  return [
    { name: "no-op (404)", surface: "baseline", request: () => fetch(`${worker.url}/discord/nope`).then((r) => expectStatus(r, [404], "404")).then(() => undefined) },
    { name: "REST GET /api/tasks", surface: "rest", request: async () => void (await expectStatus(await fetch(`${worker.url}/api/tasks?channel_id=${listed.id}`, { headers: { authorization: `Bearer ${worker.adminToken}` } }), [200], "list")) },
    {
      name: "REST POST /api/tasks",
      surface: "rest",
      request: async (i) => {
        const r = await admin("POST", "/api/tasks", { channel_id: writes.id, type: "cron", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", prompt: `Summarise yesterday's commits (${i}).` });
        if (r.status !== 201) throw new Error(`create answered ${r.status}`);
        patchable.push(r.body.id);
      },
    },
    {
      name: "REST PATCH /api/tasks/:id",
      surface: "rest",
      request: async (i) => {
        const r = await admin("PATCH", `/api/tasks/${patchable[i % patchable.length]}`, { schedule: "30 8 * * 1-5", enabled: i % 2 === 0 });
        if (r.status !== 200) throw new Error(`patch answered ${r.status}`);
      },
    },
    {
      name: "MCP initialize",
      surface: "mcp",
      request: () => mcp({ method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } } }),
    },
    { name: "MCP tools/list", surface: "mcp", request: () => mcp({ method: "tools/list" }) },
    { name: "MCP tools/call list_tasks", surface: "mcp", request: () => tool("list_tasks", { channel_id: listed.id }) },
    { name: "MCP tools/call schedule_task", surface: "mcp", request: (i) => tool("schedule_task", { channel_id: writes.id, type: "interval", schedule: "30m", prompt: `bench task ${i}` }) },
    { name: "MCP 2026-07-28 server/discover", surface: "mcp", request: () => modern("server/discover") },
    { name: "MCP 2026-07-28 tools/list", surface: "mcp", request: () => modern("tools/list") },
    { name: "MCP 2026-07-28 tools/call list_tasks", surface: "mcp", request: () => modern("tools/call", { name: "list_tasks", arguments: { channel_id: listed.id } }) },
    { name: "Discord PING", surface: "discord", request: () => signed({ id: snowflake(), application_id: "950000000000000001", type: InteractionKind.Ping, token: "ping", version: 1 }, 1) },
    { name: "Discord /loop status", surface: "discord", request: () => signed(interaction(InteractionKind.ApplicationCommand, sub("status")), 4) },
    {
      name: "Discord /loop ask",
      surface: "discord",
      prepare: makeAskChannels,
      request: (i) => signed(interaction(InteractionKind.ApplicationCommand, sub("ask", [{ type: OptionType.String, name: "prompt", value: "benchmark question" }]), askChannel(i)), 5),
    },
    {
      name: "runner claim",
      surface: "runner",
      prepare: queueRunnerRuns,
      request: async () => {
        const job = await claim();
        if (!job) throw new Error("claim found no job");
        jobs.push(job);
      },
    },
    {
      name: "runner events (10)",
      surface: "runner",
      // A runner acknowledges a lease with its first request, FIRST_CONTACT_MS after the claim; an
      // unacknowledged one goes back after LEASE_ACK_MS (14 s), which waiting for a quiet
      // isolate on a loaded machine can outlast (the batches then got 409 lease_lost). Acked
      // here, outside the profiles, right after the claims' profile.
      prepare: () => Promise.all(jobs.map((job) => runnerCall(`/runs/${job.run_id}/heartbeat`, { lease_id: job.lease_id }).then((res) => expectStatus(res, [200], "heartbeat")))).then(() => undefined),
      request: (i) => batch(jobs[i % jobs.length]!).then(() => undefined),
    },
    { name: "runner complete", surface: "runner", request: (i) => complete(jobs[i % jobs.length]!).then(() => undefined) },
    { name: "scheduled sweep", surface: "cron", request: () => fetch(`${worker.url}/cdn-cgi/local/scheduled`).then((r) => expectStatus(r, [200], "scheduled")).then(() => undefined) },
  ];
}

/**
 * Maps a frame to its source module: the unminified dev bundle marks each module with a
 * `// path` line (esbuild); the minified production bundle has no marks, so there it is "".
 * One per isolate: script ids are an isolate's own.
 */
function moduleMapper(): { load(p: CpuProfile, profiler: Profiler): Promise<void>; moduleOf(f: CallFrame): string } {
  const marks = new Map<string, { line: number; module: string }[]>();
  return {
    async load(p, profiler) {
      for (const n of p.nodes) {
        const { scriptId, url } = n.callFrame;
        if (marks.has(scriptId) || url !== "index.js") continue;
        const found: { line: number; module: string }[] = [];
        (await profiler.source(scriptId)).split("\n").forEach((l, i) => {
          const m = /^\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(l);
          if (m) found.push({ line: i, module: m[1]!.replace(/^.*node_modules\//, "") });
        });
        marks.set(scriptId, found);
      }
    },
    moduleOf(f) {
      let module = "";
      for (const m of marks.get(f.scriptId) ?? []) if (m.line <= f.lineNumber) module = m.module;
      return module;
    },
  };
}

/** Waits until the isolate does nothing on its own (see QUIET_WINDOW_MS); says so if it never does. */
async function quiesce(profiler: Profiler, before: string): Promise<void> {
  const deadline = Date.now() + QUIET_TIMEOUT_MS;
  for (;;) {
    await profiler.start();
    await sleep(QUIET_WINDOW_MS);
    const { cpuUs } = cpuMicros(await profiler.stop());
    if (cpuUs / 1000 < QUIET_CPU_MS) return;
    if (Date.now() > deadline) {
      console.log(`  (the isolate was still busy before ${before}: ${round(cpuUs / 1000, 2)} ms in ${QUIET_WINDOW_MS} ms; measuring anyway)`);
      return;
    }
  }
}

/** One of the two isolates (cpu-split.ts): the Worker's, or its Durable Objects'. */
interface Isolate {
  label: "Worker" | "Durable Objects";
  /** Its inspector's DevTools WebSocket URL. */
  url: string;
  modules: ReturnType<typeof moduleMapper>;
  /** Each kind's CPU per request, per round. */
  perRound: Map<string, number[]>;
}

/** Runs `fn` with a profiler attached to `isolate`, detaching after (one session at a time). */
async function attached<T>(isolate: Isolate, fn: (profiler: Profiler) => Promise<T>): Promise<T> {
  const profiler = await attachProfiler(isolate.url);
  try {
    return await fn(profiler);
  } finally {
    await profiler.close();
  }
}

/**
 * Durable Object code, by module, in the unminified bundle. contracts.ts is the Worker's side
 * of the contract (dispatcherOf, sessionOf: building stubs), so it runs in the Worker.
 */
const isDoCode = (module: string) => module.startsWith("durable-objects/") && module !== "durable-objects/contracts.ts";

/** Each kind's surface, by name, for its goal. */
const surfaceOf = new Map<string, string>();

/**
 * workerd profiles one isolate at a time (see attachProfiler), so each round runs every kind
 * twice: a pass profiling the Worker's isolate, then a pass profiling the Durable Objects'.
 * A pass runs the kinds in order, as the runner's claim → events → complete need.
 */
async function profileKinds(build: string, isolates: Isolate[], all: Kind[]): Promise<void> {
  for (const k of all) surfaceOf.set(k.name, k.surface);
  for (const isolate of isolates) for (const k of all) isolate.perRound.set(k.name, []);
  const where = (isolate: Isolate) => (f: CallFrame) => `(${isolate.modules.moduleOf(f) || `${f.url}:${f.lineNumber + 1}`})`;
  // The warm-up runs under a profile that is thrown away, once per isolate: V8's first profile
  // in an isolate recompiles every function it meets with source positions, which would land
  // in the figures.
  for (const isolate of isolates) {
    console.log(`${build}: warm-up, profiling the ${isolate.label} isolate`);
    await attached(isolate, async (profiler) => {
      await profiler.start();
      for (const kind of all) {
        await kind.prepare?.(WARMUP);
        for (let i = 0; i < WARMUP; i++) await kind.request(i);
      }
      await profiler.stop();
    });
  }
  let i = WARMUP;
  for (let r = 0; r < ROUNDS; r++) {
    for (const isolate of isolates) {
      console.log(`${build}: round ${r + 1}/${ROUNDS}, profiling the ${isolate.label} isolate`);
      await attached(isolate, async (profiler) => {
        for (const kind of all) {
          await kind.prepare?.(N);
          await quiesce(profiler, kind.name);
          await profiler.start();
          for (let n = 0; n < N; n++) await kind.request(i++);
          await sleep(SETTLE_MS);
          const profile = await profiler.stop();
          await isolate.modules.load(profile, profiler);
          const { cpuUs, doUs } = cpuMicros(profile, (f) => isDoCode(isolate.modules.moduleOf(f)));
          // The split is real only if the Worker's isolate never runs Durable Object code.
          if (isolate.label === "Worker" && doUs > 0) {
            throw new Error(`${kind.name}: the Worker's isolate ran Durable Object code (${round(doUs / 1000, 2)} ms): the split into two workers failed`);
          }
          isolate.perRound.get(kind.name)!.push(cpuUs / 1000 / N);
          if (TOP && r === ROUNDS - 1) {
            console.log(`  ${build} ${kind.name}, ${isolate.label}: ${round(cpuUs / 1000 / N, 2)} ms/request; heaviest (ms/request):`);
            for (const t of topSelf(profile, TOP, where(isolate))) console.log(`      ${round(t.us / 1000 / N, 3)}  ${t.name}`);
          }
        }
      });
    }
      }
}

/** `wrangler deploy --dry-run --minify`: the bundle `wrangler deploy` would upload. */
async function buildProduction(): Promise<{ script: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "loop-cpu-prod-"));
  await promisify(execFile)(WRANGLER, ["deploy", "--dry-run", "--minify", "--outdir", dir], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`, WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  return { script: join(dir, "index.js"), dir };
}

/** Each kind's CPU per request, per round, in the Worker's isolate and in the Durable Objects'. */
interface BuildFigures {
  worker: Map<string, number[]>;
  dos: Map<string, number[]>;
}

async function measureBuild(build: string): Promise<BuildFigures> {
  const fake = await startFakeDiscord({ botToken: BOT_TOKEN });
  const signer = await discordSigner();
  const prod = build === "prod" ? await buildProduction() : null;
  const configDir = await mkdtemp(join(tmpdir(), "loop-cpu-split-"));
  const vars = { DISCORD_PUBLIC_KEY: signer.publicKey, DISCORD_API_BASE: fake.url, DISCORD_BOT_TOKEN: BOT_TOKEN, LOG_LEVEL: "error" };
  const split = await writeSplitConfigs(configDir, vars, prod?.script);
  const worker = await startWorker({ config: split.paths, vars });
  try {
    const targets = await workerdInspector(worker.pid);
    const isolate = (name: string, label: Isolate["label"]): Isolate => {
      const url = targets.get(name);
      if (!url) throw new Error(`workerd's inspector lists no isolate "${name}" (it has: ${[...targets.keys()].join(", ")})`);
      return { label, url, modules: moduleMapper(), perRound: new Map() };
    };
    const isolates = [isolate(split.worker, "Worker"), isolate(split.dos, "Durable Objects")];
    const all = await kinds(worker, fake.url, signer);
    await profileKinds(build, isolates, ONLY ? all.filter((k) => k.surface === "baseline" || ONLY.some((p) => k.name.startsWith(p))) : all);
    return { worker: isolates[0]!.perRound, dos: isolates[1]!.perRound };
  } finally {
    await worker.stop();
    await fake.close();
    await rm(configDir, { recursive: true, force: true });
    if (prod) await rm(prod.dir, { recursive: true, force: true });
  }
}

const results = new Map<string, BuildFigures>();
for (const build of BUILDS) results.set(build, await measureBuild(build));

const figures: Figure[] = [];
for (const [build, { worker: perRound, dos: inDo }] of results) {
  const noop = perRound.get("no-op (404)")!;
  console.log(`\n${build} bundle: CPU per request (median of ${ROUNDS} rounds × ${N} requests)`);
  console.log("| route | Worker CPU per request | vs the no-op | Worker's own CPU (− no-op) | Durable Objects' CPU per request |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const [name, xs] of perRound) {
    const baseline = name.startsWith("no-op");
    const ratio = median(xs.map((x, r) => x / noop[r]!));
    const own = median(xs.map((x, r) => x - noop[r]!));
    const doMs = median(inDo.get(name)!);
    const cells = [name, `${round(median(xs), 2)} ms`, `${round(ratio, 1)}×`, baseline ? "" : `${round(own, 2)} ms`, `${round(doMs, 2)} ms`];
    console.log(`| ${cells.join(" | ")} |`);
    figures.push({ bench: "cpu", figure: `${build}: ${name} Worker CPU per request`, value: round(median(xs), 2), unit: "ms" });
    figures.push({ bench: "cpu", figure: `${build}: ${name} Durable Objects' CPU per request`, value: round(doMs, 2), unit: "ms" });
    const goal = GOAL_MS[surfaceOf.get(name)!];
    if (!baseline) {
      figures.push({ bench: "cpu", figure: `${build}: ${name} Worker's own CPU`, value: round(own, 2), unit: "ms", ...(goal && build === "prod" ? { goal: `≤ ${goal}` } : {}) });
    }
  }
}
report(figures);
