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
 * Nothing is measured here. D1 migrations are applied first, as test/support/worker.ts does.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { once } from "node:events";
import { promisify } from "node:util";
import { unstable_DevEnv } from "wrangler";

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

export async function startDevWorker(vars: Record<string, string>): Promise<DevWorker> {
  const persist = await mkdtemp(join(tmpdir(), "loop-devenv-"));
  const env = { ...process.env, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}`, CI: "true", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" };
  await promisify(execFile)(join(ROOT, "node_modules/.bin/wrangler"), ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist], { cwd: ROOT, env });
  // No request.cf from the network (this machine has none), as test/support/worker.ts sets.
  process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
  const devEnv = new unstable_DevEnv();
  // The user worker's address arrives with the first reload, after the proxy is ready.
  const reloaded = once(devEnv, "reloadComplete") as Promise<[ReloadComplete]>;
  const worker = await devEnv.startWorker({
    config: join(ROOT, "wrangler.toml"),
    dev: { server: { hostname: "127.0.0.1", port: 0 }, inspector: false, persist, watch: false, logLevel: "error" },
    bindings: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, { type: "plain_text", value: v }])),
  } as Parameters<typeof devEnv.startWorker>[0]);
  await worker.ready;
  const [{ proxyData }] = await reloaded;
  const u = proxyData.userWorkerUrl;
  const directHeaders = Object.fromEntries(Object.entries(proxyData.headers ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  return {
    url: String(await worker.url).replace(/\/$/, ""),
    directUrl: `${u.protocol}//${u.hostname}:${u.port}`,
    directHeaders,
    async stop() {
      await worker.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
}
