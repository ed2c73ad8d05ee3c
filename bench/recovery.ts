/**
 * bench/recovery: how long a run is stuck when its runner dies. `loop runner` (the production
 * bundle, dist/loop.mjs) runs a slow job in real Docker with the real claude CLI against the
 * fake Anthropic API; it is SIGKILLed mid-run and started again at once. Timed from the
 * restart (spawn) to the Worker showing the run `running` on attempt 2: the new process
 * removes the orphan container, hands its lease back (POST /runner/v1/runs/:id/abandon) and
 * claims the re-queued run. The lease TTL is the default 60 s, which is what recovery took
 * before (the run came back only when the lease ran out); it is still what a runner that
 * never comes back costs. BENCH_RECOVERIES crashes (default 3), each with a fresh channel.
 * Goal: ≤ 5 s from restart to running again.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isMainTurn } from "../test/fakes/anthropic.ts";
import { agentDir, configFile, containersOf, labelledRunner, setRules, setupEnv, waitFor } from "../test/runner/helpers.ts";
import { median, report, round } from "./lib.ts";

const CRASHES = Number(process.env.BENCH_RECOVERIES ?? 3);
const ROOT = resolve(import.meta.dirname, "..");
const LEASE_TTL_SECONDS = 60;
execFileSync(process.execPath, [join(ROOT, "scripts/build-runner.ts")], { stdio: "inherit" });

const env = await setupEnv({ vars: { LEASE_TTL_SECONDS: String(LEASE_TTL_SECONDS), LOG_LEVEL: "error" } });
const children: ChildProcess[] = [];

function spawnRunner(configPath: string) {
  const { ANTHROPIC_API_KEY: _a, CLAUDE_CODE_OAUTH_TOKEN: _b, ANTHROPIC_BASE_URL: _c, ...parentEnv } = process.env;
  const child = spawn(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "dist/loop.mjs"), "runner", "--config", configPath], { cwd: ROOT, env: parentEnv, stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  const out = { stderr: "" };
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return { child, out, exited };
}

try {
  const { token, channel } = await labelledRunner(env, "recovery");
  const configPath = join(env.base, "config.json");
  writeFileSync(configPath, JSON.stringify(configFile(env, token, { concurrency: 1, log_level: "warn" })));
  let runner = spawnRunner(configPath);
  await waitFor("the runner's claim loop", () => runner.out.stderr.includes("waiting for jobs (long-poll)"), 120_000);

  const seconds: number[] = [];
  for (let i = 0; i < CRASHES; i++) {
    // Attempt 1 streams for ~20 s (long enough to be killed mid-reply); attempt 2 answers at once.
    setRules(env, [
      { match: isMainTurn, times: 1, reply: { text: Array.from({ length: 100 }, (_, w) => `w${w}`).join(" "), delayMs: 200 } },
      { match: isMainTurn, reply: { text: "Recovered." } },
    ]);
    const { body: run } = await env.api("POST", "/api/runs", { channel_id: await channel(agentDir(env, `recovery-${i}`)), prompt: `Take your time (${i})` });
    await waitFor("attempt 1 mid-reply in its container", async () => {
      const list = await containersOf(run.id);
      return list.some((c) => c.State === "running") && env.fake.messageRequests().some(isMainTurn);
    }, 60_000);
    runner.child.kill("SIGKILL");
    await runner.exited;

    const t0 = performance.now();
    runner = spawnRunner(configPath);
    const back = await waitFor("the run running on attempt 2", async () => {
      const { body } = await env.api("GET", `/api/runs/${run.id}`);
      return body.status === "running" && body.attempt === 2 ? performance.now() - t0 : null;
    }, (LEASE_TTL_SECONDS + 30) * 1000);
    const done = await waitFor("the run to finish", async () => {
      const { body } = await env.api("GET", `/api/runs/${run.id}`);
      return body.status !== "running" && body.status !== "queued" ? body : null;
    }, 60_000);
    if (done.status !== "succeeded" || done.attempt !== 2) throw new Error(`run ${run.id} ended ${done.status} on attempt ${done.attempt}: ${done.error}`);
    if ((await containersOf(run.id)).length) throw new Error(`run ${run.id} left a container behind`);
    seconds.push(back / 1000);
    console.log(`  crash ${i + 1}: running again on attempt 2 after ${round(back / 1000, 2)} s; succeeded`);
  }
  console.log(`restart → running again: median ${round(median(seconds), 2)} s, worst ${round(Math.max(...seconds), 2)} s (before: the lease TTL, ${LEASE_TTL_SECONDS} s)`);
  console.log(`a runner that never comes back: the run is re-queued when its lease runs out (LEASE_TTL_SECONDS, ${LEASE_TTL_SECONDS} s)`);
  report([
    { bench: "recovery", figure: "SIGKILL + restart → running on attempt 2, worst", value: round(Math.max(...seconds), 2), unit: "s", goal: "≤ 5" },
    { bench: "recovery", figure: "SIGKILL + restart → running on attempt 2, median", value: round(median(seconds), 2), unit: "s" },
  ]);
  runner.child.kill("SIGTERM");
  await runner.exited;
} finally {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await env.close();
}
