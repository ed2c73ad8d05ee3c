/**
 * Running the real `loop` CLI (runner/bin/loop.js under the project's Node) from Node tests,
 * with a HOME of its own so the developer's ~/.loop/config.json never leaks in.
 */
import { execFile } from "node:child_process";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dirname, "../..");
export const NODE = join(ROOT, "node_modules/.bin/node");
export const LOOP = join(ROOT, "runner/bin/loop.js");

const made: string[] = [];

/** A fresh directory, by its real path (the CLI sees the resolved cwd); removeTempDirs deletes it. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

/** The environment the CLI runs with: no LOOP_* variables from the caller, HOME as given. */
export function cliEnv(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("LOOP_")) env[k] = v;
  return { ...env, HOME: home, ...extra };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runLoop(args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<CliResult> {
  return new Promise((done) => {
    execFile(NODE, [LOOP, ...args], { cwd: opts.cwd, env: opts.env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}
