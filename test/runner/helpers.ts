// Shared by the runner's integration tests: a real Worker (wrangler dev), a real Docker
// engine with the test agent image, the fake Anthropic API, and the runner itself.
import Docker from "dockerode";
import { spawn, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { startFakeAnthropic, type FakeAnthropic, type Rule } from "../fakes/anthropic.ts";
import { AGENT_GID, AGENT_UID, ensureTestAgentImage } from "../support/agent-image.ts";
import { startWorker, type TestWorker } from "../support/worker.ts";
import { parseConfig, type RunnerConfig, type RunnerConfigFile as ConfigFile } from "../../runner/config.ts";
import { createLogger, memoryLogger, type CapturedLine } from "../../runner/log.ts";
import { startRunner, type RunnerDeps, type RunnerHandle } from "../../runner/runner.ts";

export const API_KEY = "loop-runner-test-anthropic-key-do-not-leak";
export const docker = new Docker();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Env {
  image: string;
  worker: TestWorker;
  fake: FakeAnthropic;
  /** The fake's rules: replace them per test with setRules(). */
  rules: Rule[];
  base: string;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** One Worker, one fake and a temp dir per test file. */
export async function setupEnv(opts: { vars?: Record<string, string>; config?: string } = {}): Promise<Env> {
  await docker.ping().catch((err) => {
    throw new Error(`no Docker daemon (${err.message}): run scripts/ensure-docker.sh`);
  });
  const [image, worker] = await Promise.all([ensureTestAgentImage(), startWorker({ ...(opts.vars ? { vars: opts.vars } : {}), ...(opts.config ? { config: opts.config } : {}) })]);
  const rules: Rule[] = [];
  // startFakeAnthropic keeps this very array, so tests can swap rules in place.
  const fake = await startFakeAnthropic({ rules, fallback: { text: "OK" } });
  const base = mkdtempSync(join(tmpdir(), "loop-runner-it-"));
  chownSync(base, AGENT_UID, AGENT_GID);
  return {
    image,
    worker,
    fake,
    rules,
    base,
    async api(method, path, body) {
      const res = await fetch(`${worker.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${worker.adminToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    },
    async close() {
      await fake.close();
      await worker.stop();
      rmSync(base, { recursive: true, force: true });
    },
  };
}

export function setRules(env: Env, rules: Rule[]): void {
  env.rules.splice(0, env.rules.length, ...rules);
}

/** A fresh directory owned by the container user, like a project on a home server. */
export function agentDir(env: Env, name: string): string {
  const dir = mkdtempSync(join(env.base, `${name}-`));
  chownSync(dir, AGENT_UID, AGENT_GID);
  return dir;
}

export async function registerRunner(env: Env, name = "test-runner"): Promise<string> {
  const res = await env.api("POST", "/api/runners", { name, labels: [] });
  if (res.status !== 201 && res.status !== 200) throw new Error(`register runner: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.token;
}

export async function makeChannel(env: Env, dirPath: string): Promise<string> {
  const res = await env.api("POST", "/api/channels", { dir_path: dirPath });
  if (res.status >= 300) throw new Error(`channel: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export async function createRun(env: Env, channelId: string, prompt: string): Promise<number> {
  const res = await env.api("POST", "/api/runs", { channel_id: channelId, prompt });
  if (res.status !== 201) throw new Error(`run: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id;
}

export async function getRun(env: Env, id: number): Promise<any> {
  return (await env.api("GET", `/api/runs/${id}`)).body;
}

/** Polls GET /api/runs/:id until the run leaves queued/running. */
export async function waitForRun(env: Env, id: number, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(env, id);
    if (!["queued", "running"].includes(run.status)) return run;
    if (Date.now() > deadline) throw new Error(`run ${id} still ${run.status} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The agent containers of a run (any state). */
export async function containersOf(runId: number): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`loop.run=${runId}`] } });
}

export function configFile(env: Env, token: string, extra: Partial<ConfigFile> = {}): ConfigFile {
  return {
    worker_url: env.worker.url,
    runner_token: token,
    anthropic_api_key: API_KEY,
    anthropic_base_url: env.fake.url,
    container_image: env.image,
    container_network: "host", // tests reach the fake and the Worker on 127.0.0.1
    container_memory_mb: 1024,
    state_dir: mkdtempSync(join(env.base, "state-")),
    log_level: "debug",
    ...extra,
  };
}

export function runnerConfig(env: Env, token: string, extra: Partial<ConfigFile> = {}): RunnerConfig {
  return parseConfig(configFile(env, token, extra), { env: {}, home: env.base });
}

export interface TestRunner {
  handle: RunnerHandle;
  lines: CapturedLine[];
  config: RunnerConfig;
  stop(): Promise<void>;
}

/** The runner in-process; its log is kept (and echoed with LOOP_TEST_LOG=1). */
export async function startTestRunner(config: RunnerConfig, deps: RunnerDeps = {}): Promise<TestRunner> {
  const log = memoryLogger(process.env.LOOP_TEST_LOG === "1" ? createLogger({ level: "debug" }) : undefined);
  const handle = await startRunner(config, { log, killGraceMs: 3_000, ...deps });
  return { handle, lines: log.lines, config, stop: () => handle.stop({ graceMs: 0 }) };
}

export const sleepMs = sleep;

export interface Proxy {
  url: string;
  /** Drops every open connection and refuses new ones, like a network outage. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 in front of `target`, to cut the runner off from the Worker. */
export async function startProxy(target: string): Promise<Proxy> {
  const { createServer, connect } = await import("node:net");
  const port = Number(new URL(target).port);
  const sockets = new Set<import("node:net").Socket>();
  let paused = false;
  const server = createServer((client) => {
    if (paused) return void client.destroy();
    const upstream = connect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port: own } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${own}`,
    pause() {
      paused = true;
      for (const s of sockets) s.destroy();
    },
    resume() {
      paused = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A runner that only gets this test's channels: its own label, set on each channel it serves. */
export async function labelledRunner(env: Env, label: string): Promise<{ token: string; channel(dir: string): Promise<string> }> {
  const res = await env.api("POST", "/api/runners", { name: label, labels: [label] });
  if (res.status >= 300) throw new Error(`register runner: ${res.status} ${JSON.stringify(res.body)}`);
  return {
    token: res.body.token,
    async channel(dir) {
      const id = await makeChannel(env, dir);
      const patched = await env.api("PATCH", `/api/channels/${id}`, { runner_label: label });
      if (patched.status >= 300) throw new Error(`label channel: ${patched.status} ${JSON.stringify(patched.body)}`);
      return id;
    },
  };
}

const ROOT = resolve(import.meta.dirname, "../..");
const processes: ChildProcess[] = [];

export interface RunnerProcess {
  child: ChildProcess;
  out: { stdout: string; stderr: string };
  exited: Promise<number | null>;
}

/**
 * `loop runner` as a child process, so a test can SIGKILL or SIGTERM it for real. Its
 * environment is the parent's without Anthropic credentials: the runner must take them from
 * its config. `entry`: the CLI from source, or the production bundle (dist/loop.mjs).
 */
export function spawnRunnerProcess(configPath: string, entry: "source" | "bundle" = "source"): RunnerProcess {
  const { ANTHROPIC_API_KEY: _a, CLAUDE_CODE_OAUTH_TOKEN: _b, ANTHROPIC_BASE_URL: _c, ...parentEnv } = process.env;
  const script = entry === "bundle" ? join(ROOT, "dist/loop.mjs") : join(ROOT, "runner/bin/loop.js");
  const child = spawn(join(ROOT, "node_modules/.bin/node"), [script, "runner", "--config", configPath], { cwd: ROOT, env: parentEnv, stdio: ["ignore", "pipe", "pipe"] });
  processes.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (out.stdout += d));
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return { child, out, exited };
}

/** For afterAll: every runner process still alive is killed. */
export function killRunnerProcesses(): void {
  for (const c of processes) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
