/**
 * `npm run dev`: all of Loop on this machine.
 *   1. .dev.vars with an ADMIN_TOKEN (created and printed once on first start);
 *   2. the local D1 migrations, then `wrangler dev` on 127.0.0.1:8787 (it builds the
 *      dashboard first, and prints its URL);
 *   3. a runner bound to it (`dist/loop.mjs runner`), registered with the Worker on first
 *      start, using the local Docker engine and the Anthropic credential in this shell's env.
 * Without Docker or a credential it says what it tried and how to fix it, and the Worker
 * still serves the API, MCP and Discord endpoints: jobs wait in the queue. Ctrl-C stops all.
 *
 * LOOP_DEV_DIR (default: the repository) holds .dev.vars, .wrangler/state and .loop-dev/;
 * LOOP_DEV_PORT (default 8787) is the Worker's port.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import Docker from "dockerode";
import { RUNNER_PATH } from "../protocol/runner.ts";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const DIR = resolve(process.env.LOOP_DEV_DIR ?? ROOT);
const DEV_VARS = join(DIR, ".dev.vars");
const STATE = join(DIR, ".wrangler/state");
const RUNNER_DIR = join(DIR, ".loop-dev");
const RUNNER_CONFIG = join(RUNNER_DIR, "runner.json");
const PORT = Number(process.env.LOOP_DEV_PORT ?? 8787);
const URL = `http://127.0.0.1:${PORT}`;

const say = (msg: string) => console.log(`[dev] ${msg}`);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  // wrangler's shebang asks for `node`: make it the project's Node 22.
  PATH: `${BIN}:${process.env.PATH}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

/** .dev.vars is dotenv-style KEY=VALUE lines. */
function readDevVars(): Record<string, string> {
  if (!existsSync(DEV_VARS)) return {};
  const vars: Record<string, string> = {};
  for (const line of readFileSync(DEV_VARS, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

function ensureAdminToken(): string {
  const existing = readDevVars().ADMIN_TOKEN;
  if (existing) return existing;
  const token = `loop_admin_${randomBytes(24).toString("base64url")}`;
  const text = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, "utf8") : "";
  mkdirSync(DIR, { recursive: true });
  writeFileSync(DEV_VARS, `${text}${text && !text.endsWith("\n") ? "\n" : ""}ADMIN_TOKEN=${token}\n`, { mode: 0o600 });
  say(`created ${DEV_VARS} with a new ADMIN_TOKEN (shown once; the file is git-ignored):`);
  console.log(`\n    ADMIN_TOKEN=${token}\n`);
  return token;
}

async function waitForHealth(worker: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 600; i++) {
    if (worker.exitCode !== null) return false;
    try {
      if ((await fetch(`${URL}/api/health`)).ok) return true;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Why the runner cannot start here, or null when Docker and a credential are there. */
async function runnerBlocker(): Promise<string | null> {
  const where = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  try {
    await new Docker().ping();
  } catch (err) {
    return (
      `no Docker engine answered at ${where} (${(err as Error).message}).\n` +
      "      Start Docker (e.g. `sudo systemctl start docker`, or `sudo bash scripts/ensure-docker.sh`),\n" +
      "      make sure this user may use it (the docker group), then restart `npm run dev`."
    );
  }
  if (!process.env.ANTHROPIC_API_KEY && !process.env.CLAUDE_CODE_OAUTH_TOKEN) {
    return "no Anthropic credential in this shell: export ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN) and restart `npm run dev`.";
  }
  return null;
}

/** The dev runner's config: registered once, re-registered if the local database was reset. */
async function ensureRunnerConfig(adminToken: string): Promise<void> {
  if (existsSync(RUNNER_CONFIG)) {
    const { runner_token } = JSON.parse(readFileSync(RUNNER_CONFIG, "utf8")) as { runner_token: string };
    const probe = await fetch(`${URL}${RUNNER_PATH}/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${runner_token}`, "content-type": "application/json" },
      body: JSON.stringify({ wait_ms: 0 }),
    });
    if (probe.status !== 401) return;
    say("the dev runner's token is not known to this database any more: registering it again");
  }
  const res = await fetch(`${URL}/api/runners`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `dev-${hostname()}-${randomBytes(3).toString("hex")}`, labels: [] }),
  });
  if (res.status !== 201) throw new Error(`registering the dev runner failed: HTTP ${res.status} ${await res.text()}`);
  const { token, name } = (await res.json()) as { token: string; name: string };
  mkdirSync(RUNNER_DIR, { recursive: true, mode: 0o700 });
  const config = {
    worker_url: URL,
    runner_token: token,
    state_dir: join(RUNNER_DIR, "state"),
    // Ctrl-C should not wait long for a running agent.
    shutdown_grace_sec: 5,
    ...(process.env.LOOP_CONTAINER_IMAGE ? { container_image: process.env.LOOP_CONTAINER_IMAGE } : {}),
    ...(process.env.LOOP_CONTAINER_NETWORK ? { container_network: process.env.LOOP_CONTAINER_NETWORK } : {}),
  };
  writeFileSync(RUNNER_CONFIG, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  say(`registered runner ${name}; its config is ${RUNNER_CONFIG}`);
}

async function main(): Promise<void> {
  const adminToken = ensureAdminToken();
  const children: ChildProcess[] = [];
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${why})`);
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    const exit = setTimeout(() => process.exit(0), 15_000);
    exit.unref();
    Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once("exit", r)) : null))).then(() => process.exit(0));
  };
  process.on("SIGINT", () => stop("Ctrl-C"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  say(`applying D1 migrations to the local database (${STATE})`);
  execFileSync(join(BIN, "wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", STATE], {
    cwd: ROOT,
    env: { ...env, CI: "true" },
    stdio: ["ignore", "inherit", "inherit"],
  });

  say(`starting the Worker on ${URL} (wrangler dev: local D1 and Durable Objects)`);
  const worker = spawn(
    join(BIN, "wrangler"),
    ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--persist-to", STATE, "--env-file", DEV_VARS, "--show-interactive-dev-session=false"],
    { cwd: ROOT, env, stdio: "inherit" },
  );
  children.push(worker);
  worker.on("exit", (code) => {
    if (!stopping) say(`wrangler dev exited with code ${code}`);
    stop("the Worker exited");
  });
  if (!(await waitForHealth(worker)) || stopping) return;
  say(`the Worker is up: ${URL}/api/health`);
  // wrangler's [build] built the dashboard, and rebuilds it when dashboard/ changes.
  say(`the dashboard: ${URL}/  (sign in with the ADMIN_TOKEN in ${DEV_VARS})`);

  const blocker = await runnerBlocker();
  if (blocker) {
    say(`runner not started: ${blocker}`);
    say("the Worker keeps serving the API, MCP and Discord endpoints; runs wait in the queue until a runner claims them.");
    return;
  }
  await ensureRunnerConfig(adminToken);
  say("building the runner (dist/loop.mjs) and starting it against the local Worker");
  execFileSync(process.execPath, [join(ROOT, "scripts/build-runner.ts")], { cwd: ROOT, stdio: "inherit" });
  const runner = spawn(process.execPath, [join(ROOT, "dist/loop.mjs"), "runner", "--config", RUNNER_CONFIG], { cwd: ROOT, env, stdio: "inherit" });
  children.push(runner);
  runner.on("exit", (code) => {
    if (stopping) return;
    say(`the runner exited with code ${code}; the Worker keeps serving, and runs wait in the queue. Fix what it said and restart \`npm run dev\`.`);
    children.splice(children.indexOf(runner), 1);
  });
}

await main();
