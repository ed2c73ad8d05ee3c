/**
 * The Loop Worker under `wrangler dev`, started through wrangler's own API (`unstable_DevEnv`,
 * what the `wrangler dev` command runs on) in this process, so that a benchmark can reach it
 * two ways in the same run:
 *   url:        through wrangler dev's proxy, as a browser or `wrangler dev` users do. The
 *               proxy is a second workerd process whose worker hands every request to a
 *               Durable Object (the request queue that holds requests during reloads),
 *               which fetches the user worker's workerd over local HTTP;
 *   directUrl:  straight to the user worker's workerd socket (Miniflare's entry worker, then
 *               Loop), with the one header the proxy adds to be let in (`directHeaders`).
 * startSplitDevWorker starts Loop the way Cloudflare runs it instead: the Worker in one
 * `wrangler dev` session and its Durable Objects in another, each with a workerd process of
 * its own, the Worker's DO bindings reaching the second session through wrangler's dev
 * registry (`script_name`, bench/cpu-split.ts). Locally a DO otherwise runs in the Worker's
 * own workerd, so its work after an answer (an ask's queued run and live message) competes
 * with the next request; on Cloudflare it is another invocation, elsewhere.
 * Nothing is measured here. D1 migrations are applied first, as test/support/worker.ts does.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { once } from "node:events";
import { promisify } from "node:util";
import { unstable_DevEnv } from "wrangler";
import { writeSplitConfigs } from "./cpu-split.ts";

const ROOT = resolve(import.meta.dirname, "..");

export interface DevWorker {
  /** Through wrangler dev's proxy worker. */
  url: string;
  /** The user worker's own workerd socket. */
  directUrl: string;
  /** Headers a request to directUrl carries (what the proxy adds). */
  directHeaders: Record<string, string>;
  stop(): Promise<void>;
}

interface ReloadComplete {
  proxyData: { userWorkerUrl: { protocol: string; hostname: string; port: string }; headers?: Record<string, string | undefined> };
}

/** A fresh local D1 (migrations applied) under a new persist directory. */
async function migratedPersist(): Promise<string> {
  const persist = await mkdtemp(join(tmpdir(), "loop-devenv-"));
  const env = { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  await promisify(execFile)(join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: ROOT, env });
  return persist;
}

/** One `wrangler dev` session of `config`; `registry`: the dev registry directory it joins. */
async function startSession(config: string, persist: string, vars: Record<string, string>, registry?: string): Promise<Omit<DevWorker, "stop"> & { dispose(): Promise<void> }> {
  // No request.cf from the network (this machine has none), as test/support/worker.ts sets.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const devEnv = new unstable_DevEnv();
  // The user worker's address arrives with the first reload, after the proxy is ready.
  const reloaded = once(devEnv, "reloadComplete") as Promise<[ReloadComplete]>;
  const worker = await devEnv.startWorker({
    config,
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, watch: false, logLevel: "error", ...(registry ? { registry } : {}) },
    bindings: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, { type: "plain_text", value: v }])),
  } as Parameters<typeof devEnv.startWorker>[0]);
  await worker.ready;
  const [{ proxyData }] = await reloaded;
  const u = proxyData.userWorkerUrl;
  return {
    url: String(await worker.url).replace(/\/$/, ""),
    directUrl: `${u.protocol}//${u.hostname}:${u.port}`,
    directHeaders: Object.fromEntries(Object.entries(proxyData.headers ?? {}).filter((e): e is [string, string] => e[1] !== undefined)),
    dispose: () => worker.dispose(),
  };
}

/** The Worker a session serves, stopped by `stop` (which disposes of what the caller set up). */
const served = ({ url, directUrl, directHeaders }: Omit<DevWorker, "stop">, stop: () => Promise<void>): DevWorker => ({ url, directUrl, directHeaders, stop });

export async function startDevWorker(vars: Record<string, string>): Promise<DevWorker> {
  const persist = await migratedPersist();
  const session = await startSession(join(ROOT, "wrangler.toml"), persist, vars);
  return served(session, async () => {
    await session.dispose();
    await rm(persist, { recursive: true, force: true });
  });
}

/**
 * The Worker and its Durable Objects in two sessions (two workerd processes). Each has its
 * own local D1 (two workerd processes must not share one SQLite file): the Worker's
 * holds what its routes read and write (status, autocomplete, tasks), the DOs' what they
 * do (an ask's channel and run). The dev registry is a directory of this run's own, so no
 * other local `wrangler dev` can answer for these names.
 */
export async function startSplitDevWorker(vars: Record<string, string>): Promise<DevWorker> {
  const dir = await mkdtemp(join(tmpdir(), "loop-split-"));
  const registry = join(dir, "registry");
  const split = await writeSplitConfigs(dir, vars);
  const [workerPersist, dosPersist] = await Promise.all([migratedPersist(), migratedPersist()]);
  // The DOs' session first: the Worker's bindings find it in the registry.
  const dos = await startSession(split.paths[1], dosPersist, vars, registry);
  try {
    const worker = await startSession(split.paths[0], workerPersist, vars, registry);
    return served(worker, async () => {
      await worker.dispose();
      await dos.dispose();
      await Promise.all([workerPersist, dosPersist, dir].map((d) => rm(d, { recursive: true, force: true })));
    });
  } catch (err) {
    await dos.dispose();
    throw err;
  }
}
