/**
 * bench/runner: what the runner adds to an agent run, and what it costs to keep around.
 * Side by side in one process, alternating, against `wrangler dev`, the real Docker engine,
 * the test agent image (real claude) and the fake Anthropic API:
 *   runner: POST /api/runs sent → the run's SSE stream says `complete` (claim, container,
 *           stream-json, event batches, completion; `loop runner` as a child process)
 *   bare:   dockerode create + attach + start + wait + remove of the same container (same
 *           spec, command, mounts, MCP config, stdin), output read and discarded
 * Each job gets a fresh channel (fresh Claude state), so neither side resumes a session.
 * Idle RSS: VmRSS of the `loop runner` process parked in a long-poll claim, before any job.
 * The runner measured is the production build, dist/loop.mjs, built afresh first.
 * Goals: runner/bare median ≤ 1.15×; idle RSS ≤ 80 MB.
 */
import Docker from "dockerode";
import { execFileSync, spawn } from "node:child_process";
import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { isMainTurn, startFakeAnthropic } from "../test/fakes/anthropic.ts";
import { AGENT_GID, AGENT_UID, ensureTestAgentImage } from "../test/support/agent-image.ts";
import { startWorker } from "../test/support/worker.ts";
import { stdinFor } from "../runner/agent.ts";
import { parseConfig } from "../runner/config.ts";
import { buildContainerSpec } from "../runner/container-spec.ts";
import { containerCreateOptions } from "../runner/docker.ts";
import { writeRunDir } from "../runner/workspace.ts";
import { client, median, percentile, report, round } from "./lib.ts";

const JOBS = Number(process.env.BENCH_JOBS ?? 20);
const WARMUP = 2;
const ROOT = resolve(import.meta.dirname, "..");
execFileSync(process.execPath, [join(ROOT, "scripts/build-runner.ts")], { stdio: "inherit" });
const API_KEY = "sk-ant-bench-key";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const docker = new Docker();
const image = await ensureTestAgentImage();
const worker = await startWorker();
const fake = await startFakeAnthropic({ rules: [{ match: isMainTurn, reply: { text: "Benchmark answer.", usage: { input_tokens: 20, output_tokens: 5 } } }] });
const base = mkdtempSync(join(tmpdir(), "loop-bench-runner-"));
chownSync(base, AGENT_UID, AGENT_GID);
let child: ReturnType<typeof spawn> | undefined;

try {
  const admin = client(worker.url, worker.adminToken);
  const { body: registered } = await admin("POST", "/api/runners", { name: "bench", labels: [] });
  const configFile = {
    worker_url: worker.url,
    runner_token: registered.token,
    anthropic_api_key: API_KEY,
    anthropic_base_url: fake.url,
    container_image: image,
    container_network: "host",
    concurrency: 1,
    state_dir: join(base, "state"),
    log_level: "warn",
  };
  const configPath = join(base, "config.json");
  writeFileSync(configPath, JSON.stringify(configFile));
  const config = parseConfig(configFile, { env: {}, home: base });

  // ---- the runner as a child process; its idle RSS first ------------------------------
  child = spawn(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/loop.mjs"), "runner", "--config", configPath], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.resume();
  for (let i = 0; !stderr.includes("waiting for jobs (long-poll)"); i++) {
    if (child.exitCode !== null || i > 600) throw new Error(`loop runner did not reach its claim loop:\n${stderr}`);
    await sleep(100);
  }
  await sleep(3_000); // settle: startup garbage collected, claim parked
  const status = readFileSync(`/proc/${child.pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) / 1024;
  const rssMb = kb("VmRSS");
  // RssFile is mostly the node binary's own code pages, shared with every Node process.
  console.log(`idle RSS of loop runner (pid ${child.pid}): ${round(rssMb)} MB (anonymous ${round(kb("RssAnon"))} MB, file-backed ${round(kb("RssFile"))} MB)`);

  // ---- one job each way ---------------------------------------------------------------
  async function channelFor(i: number, kind: string) {
    const workdir = join(base, `${kind}-${i}`);
    mkdirSync(workdir);
    chownSync(workdir, AGENT_UID, AGENT_GID);
    const { body } = await admin("POST", "/api/channels", { dir_path: workdir });
    return { workdir, channelId: body.id as string };
  }

  async function runnerJob(i: number): Promise<number> {
    const { channelId } = await channelFor(i, "runner");
    const t0 = performance.now();
    const { body: run } = await admin("POST", "/api/runs", { channel_id: channelId, prompt: `Benchmark prompt ${i}` });
    const res = await fetch(`${worker.url}/api/runs/${run.id}/stream`, { headers: { authorization: `Bearer ${worker.adminToken}` } });
    const text = await res.text(); // the stream closes after `complete`
    const ms = performance.now() - t0;
    if (!text.includes("event: complete") || !text.includes('"status":"succeeded"')) throw new Error(`runner job ${i} did not succeed:\n${text.slice(-500)}`);
    return ms;
  }

  async function bareJob(i: number): Promise<number> {
    const { workdir, channelId } = await channelFor(i, "bare");
    // The same container the runner would start, with a channel-scoped token for the MCP.
    const { body: tok } = await admin("POST", "/api/tokens", { name: `bench ${i}`, scope: [channelId] });
    const claudeDir = join(base, `bare-claude-${i}`);
    mkdirSync(claudeDir, { mode: 0o700 });
    chownSync(claudeDir, AGENT_UID, AGENT_GID);
    const job = { run_id: 900_000 + i, channel_id: channelId, attempt: 1, lease_id: `bench-${i}`, mcp: { url: `${worker.url}/mcp`, token: tok.token } };
    const runDir = writeRunDir(join(base, "bare-state"), job, {}, { uid: AGENT_UID, gid: AGENT_GID });
    const spec = buildContainerSpec({ config, job, runnerKey: "bench", place: { workdir, binds: [], groupAdd: [], user: `${AGENT_UID}:${AGENT_GID}`, home: null }, claudeDir, runDir, model: null, resume: null });

    const t0 = performance.now();
    const container = await docker.createContainer(containerCreateOptions(spec));
    const stream: any = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    let out = "";
    const sink = new PassThrough();
    sink.on("data", (d) => (out += d));
    container.modem.demuxStream(stream, sink, new PassThrough().resume());
    const ended = new Promise((r) => stream.on("end", r));
    await container.start();
    stream.end(stdinFor(config.credentials, `Benchmark prompt ${i}`));
    await container.wait();
    await ended;
    await container.remove({ force: true });
    const ms = performance.now() - t0;
    rmSync(runDir, { recursive: true, force: true });
    if (!out.includes('"is_error":false')) throw new Error(`bare job ${i} did not succeed:\n${out.slice(-500)}`);
    return ms;
  }

  console.log(`${JOBS} jobs each way (+${WARMUP} warm-up), alternating runner / bare`);
  const runnerMs: number[] = [];
  const bareMs: number[] = [];
  for (let i = 0; i < JOBS + WARMUP; i++) {
    const r = await runnerJob(i);
    const b = await bareJob(i);
    if (i >= WARMUP) {
      runnerMs.push(r);
      bareMs.push(b);
    }
    console.log(`  job ${i}${i < WARMUP ? " (warm-up)" : ""}: runner ${round(r)} ms, bare ${round(b)} ms`);
  }

  const ratio = median(runnerMs) / median(bareMs);
  console.log(`bare    create+start+wait+remove   p50 ${round(median(bareMs))} ms  p90 ${round(percentile(bareMs, 90))} ms`);
  console.log(`runner  POST /api/runs → complete   p50 ${round(median(runnerMs))} ms  p90 ${round(percentile(runnerMs, 90))} ms`);
  console.log(`overhead: ${round(median(runnerMs) - median(bareMs))} ms per job, ratio ${round(ratio, 3)}×; idle RSS ${round(rssMb)} MB`);
  report([
    { bench: "runner", figure: "bare container run p50", value: round(median(bareMs)), unit: "ms" },
    { bench: "runner", figure: "runner job p50 (POST /api/runs → complete)", value: round(median(runnerMs)), unit: "ms" },
    { bench: "runner", figure: "runner / bare, ratio of medians", value: round(ratio, 3), unit: "×", goal: "≤ 1.15" },
    { bench: "runner", figure: "idle RSS of loop runner (VmRSS)", value: round(rssMb), unit: "MB", goal: "≤ 80" },
  ]);
} finally {
  if (child && child.exitCode === null) {
    child.kill("SIGTERM");
    await new Promise((r) => child!.once("exit", r));
  }
  await fake.close();
  await worker.stop();
  rmSync(base, { recursive: true, force: true });
}
