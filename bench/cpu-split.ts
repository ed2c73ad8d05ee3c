/**
 * bench/cpu's split of Loop into two workers, as Cloudflare runs it: the Worker alone, and its
 * Durable Objects in an isolate of their own. Locally `wrangler dev` runs a Durable Object in
 * the isolate of the worker that defines it, so with one worker a profile of "the Worker"
 * included every DO call it caused; on Cloudflare a DO call is an invocation of its own, with
 * its own CPU limit, and the Free plan's 10 ms applies to the Worker's invocation alone.
 *
 * Two wrangler configurations derived from wrangler.toml (so they follow its bindings, vars and
 * migrations) and run as one multi-worker session (`wrangler dev -c worker -c dos`):
 * - the Worker: same entry, D1 and vars, its Durable Object bindings pointing (`script_name`)
 *   at the second worker; no migrations, so it defines no Durable Object of its own;
 * - `<name>-dos`: same bundle, serving the Durable Object classes (wrangler.toml's bindings and
 *   migrations); nothing routes requests to its fetch handler.
 * bench/cpu runs both in one workerd, where they bind the same D1 database id, hence the same
 * local database; bench/interactions' split runs each in a session (and workerd) of its own,
 * each with its own local D1 (bench/dev-worker.ts).
 * Left out: the dashboard's assets and its build step (no route measured here serves a file).
 *
 * wrangler's own inspector proxy (`--inspector-port`) exposes only the first worker, so the
 * profiler attaches to workerd's inspector, which lists every isolate (`core:user:<name>`).
 * wrangler starts workerd with `--inspector-addr=127.0.0.1:0` and does not print the port it
 * got: workerdInspector finds it from /proc (Linux only, like the rest of the test harness).
 */
import { readdir, readFile, readlink, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { experimental_readRawConfig } from "wrangler";

const ROOT = resolve(import.meta.dirname, "..");

export interface SplitConfigs {
  /** Paths of the two generated configurations, the Worker's first (it serves the port). */
  paths: [string, string];
  /** Worker names, as workerd's inspector lists them (`core:user:<name>`). */
  worker: string;
  dos: string;
}

/**
 * Writes the two configurations into `dir`. `script`: an already-built bundle (the production
 * one) served as is by both; otherwise wrangler bundles wrangler.toml's entry for each.
 * `vars` are added to both: `wrangler dev --var` reaches only the first worker of a session.
 */
export async function writeSplitConfigs(dir: string, vars: Record<string, string>, script?: string): Promise<SplitConfigs> {
  const raw = experimental_readRawConfig({ config: join(ROOT, "wrangler.toml") }).rawConfig;
  const worker = raw.name!;
  const dos = `${worker}-dos`;
  const bindings = raw.durable_objects?.bindings ?? [];
  const common = {
    main: script ?? resolve(ROOT, raw.main!),
    ...(script ? { no_bundle: true } : {}),
    compatibility_date: raw.compatibility_date,
    compatibility_flags: raw.compatibility_flags,
    d1_databases: (raw.d1_databases ?? []).map((d: { migrations_dir?: string }) => ({ ...d, ...(d.migrations_dir ? { migrations_dir: resolve(ROOT, d.migrations_dir) } : {}) })),
    vars: { ...raw.vars, ...vars },
  };
  const paths: [string, string] = [join(dir, "worker.json"), join(dir, "dos.json")];
  await writeFile(
    paths[0],
    JSON.stringify({ ...common, name: worker, triggers: raw.triggers, durable_objects: { bindings: bindings.map((b: object) => ({ ...b, script_name: dos })) } }, null, 2),
  );
  await writeFile(paths[1], JSON.stringify({ ...common, name: dos, durable_objects: { bindings }, migrations: raw.migrations }, null, 2));
  return { paths, worker, dos };
}

/** workerd's inspector targets, `core:user:<worker name>` → its DevTools WebSocket URL. */
export async function workerdInspector(wranglerPid: number): Promise<Map<string, string>> {
  for (const port of await inspectorPortCandidates(wranglerPid)) {
    try {
      const targets = (await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(2_000) })).json()) as { id: string; webSocketDebuggerUrl: string }[];
      if (!Array.isArray(targets)) continue;
      const users = targets.filter((t) => t.id.startsWith("core:user:"));
      if (users.length) return new Map(users.map((t) => [t.id.slice("core:user:".length), t.webSocketDebuggerUrl]));
    } catch {
      // Another of workerd's sockets (the entry, the debug port): not the inspector.
    }
  }
  throw new Error(`found no workerd inspector among wrangler's (pid ${wranglerPid}) processes`);
}

/** The TCP ports workerd processes of wrangler's process group listen on, with `--inspector-addr`. */
async function inspectorPortCandidates(wranglerPid: number): Promise<number[]> {
  const ports: number[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid pgrp …"; comm may hold spaces, so split after ")".
      const stat = await readFile(`/proc/${entry}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp !== wranglerPid) continue;
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, "utf8")).split("\0");
      if (!cmdline.some((a) => a.startsWith("--inspector-addr="))) continue;
      const inodes = new Set<string>();
      for (const fd of await readdir(`/proc/${entry}/fd`)) {
        const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/${entry}/fd/${fd}`).catch(() => ""));
        if (m) inodes.add(m[1]!);
      }
      // /proc/<pid>/net/tcp: "sl local_address rem_address st … inode"; st 0A is LISTEN.
      for (const line of (await readFile(`/proc/${entry}/net/tcp`, "utf8")).split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f[3] === "0A" && inodes.has(f[9]!)) ports.push(parseInt(f[1]!.split(":")[1]!, 16));
      }
    } catch {
      // The process ended while being read, or is not ours to read.
    }
  }
  return ports;
}
