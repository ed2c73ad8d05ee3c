/**
 * A real Loop Worker for Node-side tests and benchmarks: `wrangler dev` (workerd, local D1
 * and Durable Objects) on 127.0.0.1, with its own state directory and migrations applied.
 */
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";

const ROOT = resolve(import.meta.dirname, "../..");
const WRANGLER = join(ROOT, "node_modules/.bin/wrangler");
const run = promisify(execFile);

export interface TestWorker {
  url: string;
  adminToken: string;
  persistDir: string;
  /** wrangler's pid, also its process group's (bench/cpu finds workerd among its children). */
  pid: number;
  /** Everything wrangler printed, for diagnosing a failed test. */
  output(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

const baseEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  // wrangler's shebang asks for `node`: make it the project's Node 22, not the system's.
  PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`,
  CI: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
  NO_COLOR: "1",
});

/**
 * `config`: another wrangler configuration (the benchmarks' metered build); default wrangler.toml.
 * Several (bench/cpu's Worker and its Durable Objects' worker) run as one multi-worker session;
 * the first is the one served on `port`, and migrations are applied with it.
 */
export async function startWorker(opts: { vars?: Record<string, string>; port?: number; config?: string | string[] } = {}): Promise<TestWorker> {
  const persistDir = await mkdtemp(join(tmpdir(), "loop-worker-"));
  const configs = opts.config === undefined ? [] : [opts.config].flat();
  const configArgs = configs.flatMap((c) => ["--config", c]);
  const migrateArgs = configs.length ? ["--config", configs[0]!] : [];
  await run(WRANGLER, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir, ...migrateArgs], { cwd: ROOT, env: baseEnv() });
  const port = opts.port ?? (await freePort());
  const adminToken = `test-admin-${crypto.randomUUID()}`;
  const vars = { ADMIN_TOKEN: adminToken, LOG_LEVEL: "warn", ...opts.vars };
  const args = ["dev", ...configArgs, "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persistDir, "--show-interactive-dev-session=false", "--inspector-port", String(await freePort())];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(WRANGLER, args, { cwd: ROOT, env: baseEnv(), stdio: ["ignore", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  // wrangler runs in its own process group (so stop() can end workerd too); if this process
  // dies without calling stop(), take the group down with it rather than leave it running.
  const killGroup = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {}
  };
  process.once("exit", killGroup);

  const stop = async () => {
    process.off("exit", killGroup);
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      await new Promise((r) => {
        const t = setTimeout(() => {
          try {
            process.kill(-child.pid!, "SIGKILL");
          } catch {}
          r(null);
        }, 5_000);
        child.once("exit", () => {
          clearTimeout(t);
          r(null);
        });
      });
    }
    await rm(persistDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${out}`);
    try {
      const res = await fetch(`${url}/api/health`);
      if (res.ok) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not become healthy within 60 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { url, adminToken, persistDir, pid: child.pid!, output: () => out, stop };
}
