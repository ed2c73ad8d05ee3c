/**
 * `npm run dev`: Loop on this machine. Creates .dev.vars with an admin token on first start
 * (printed once), applies the local D1 migrations, and runs `wrangler dev` on
 * 127.0.0.1:8787. Ctrl-C stops everything it started.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "node_modules/.bin");
const DEV_VARS = join(ROOT, ".dev.vars");
const PORT = Number(process.env.LOOP_DEV_PORT ?? 8787);

const say = (msg: string) => console.log(`[dev] ${msg}`);
const env: NodeJS.ProcessEnv = {
  ...process.env,
  // wrangler's shebang asks for `node`: make it the project's Node 22.
  PATH: `${BIN}:${process.env.PATH}`,
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_SEND_METRICS: "false",
};

/** Reads KEY=VALUE lines; .dev.vars is dotenv-style. */
function readDevVars(path = DEV_VARS): Record<string, string> {
  if (!existsSync(path)) return {};
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*"?(.*?)"?\s*$/.exec(line);
    if (m) vars[m[1]!] = m[2]!;
  }
  return vars;
}

function ensureAdminToken(): string {
  const vars = readDevVars();
  if (vars.ADMIN_TOKEN) return vars.ADMIN_TOKEN;
  const token = `loop_admin_${randomBytes(24).toString("base64url")}`;
  const existing = existsSync(DEV_VARS) ? readFileSync(DEV_VARS, "utf8") : "";
  writeFileSync(DEV_VARS, `${existing}${existing && !existing.endsWith("\n") ? "\n" : ""}ADMIN_TOKEN=${token}\n`, { mode: 0o600 });
  say("created .dev.vars with a new ADMIN_TOKEN (shown once; it stays in .dev.vars, which git ignores):");
  console.log(`\n    ADMIN_TOKEN=${token}\n`);
  return token;
}

function main(): void {
  ensureAdminToken();
  say("applying D1 migrations to the local database (.wrangler/state)");
  execFileSync(join(BIN, "wrangler"), ["d1", "migrations", "apply", "DB", "--local"], { cwd: ROOT, env: { ...env, CI: "true" }, stdio: ["ignore", "inherit", "inherit"] });

  say(`starting the Worker on http://127.0.0.1:${PORT} (wrangler dev: local D1 and Durable Objects)`);
  const children: ChildProcess[] = [];
  const worker = spawn(join(BIN, "wrangler"), ["dev", "--ip", "127.0.0.1", "--port", String(PORT), "--show-interactive-dev-session=false"], {
    cwd: ROOT,
    env,
    stdio: "inherit",
  });
  children.push(worker);

  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${why})`);
    for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.on("SIGINT", () => stop("Ctrl-C"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  worker.on("exit", (code) => {
    if (!stopping) say(`wrangler dev exited with code ${code}`);
    stop("the Worker exited");
  });
}

main();
