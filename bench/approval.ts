/**
 * bench/approval: what a held tool call costs while it waits, and how soon a click gets the
 * tool running. Against `wrangler dev`, the real Docker engine, the test agent image (real
 * claude) and the fake Anthropic API asking for a Bash call (`touch <file>` in the workdir),
 * in a channel in `ask` mode, with one in-process runner of one slot:
 *   held:  with the run waiting_approval (the runner's job for it has ended), sampled for
 *          HOLD_SAMPLE_MS: the most containers labelled with the run (any state) and the most
 *          runner slots busy. Goal 0 and 0.
 *   click: POST /api/runs/:id/approval sent → the file exists on the host, i.e. the approved
 *          command ran in the new container (polled every 5 ms). Split by the runner's own log:
 *          click → job claimed, → container started, → tool ran.
 *   bare:  `docker run --rm` of the same image, side by side (alternating with the clicks):
 *          /bin/true (container start), and `claude --version` (container + CLI start).
 *   fresh: a plain run in an auto channel, also alternating: POST /api/runs → the agent's
 *          first request reaches the fake API (claim, container, and the CLI's whole start).
 * Each approval gets a fresh channel (fresh Claude state), so sessions do not grow.
 * BENCH_APPROVALS approvals (default 10). Goal: click → tool p50 ≤ bare container start + 1 s.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { hasToolResult, isMainTurn, lastUserText } from "../test/fakes/anthropic.ts";
import { agentDir, containersOf, docker, labelledRunner, runnerConfig, setRules, setupEnv, startTestRunner, waitFor } from "../test/runner/helpers.ts";
import { memoryLogger, type LogFields, type Logger } from "../runner/log.ts";
import { median, report, round } from "./lib.ts";

const APPROVALS = Number(process.env.BENCH_APPROVALS ?? 10);
const HOLD_SAMPLE_MS = 3_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

/** The runner's log, with the moment each job started and each container started, per run. */
function timedLogger(): { log: Logger; marks: Map<string, number> } {
  const inner = memoryLogger();
  const marks = new Map<string, number>();
  const mark = (msg: string, fields?: LogFields) => {
    // Job lines carry run_id; container lines name the container, which ends in the run id.
    const runId = fields?.run_id ?? (typeof fields?.container === "string" ? /-run-(\d+)$/.exec(fields.container)?.[1] : undefined);
    if (runId !== undefined) marks.set(`${runId}:${msg}`, performance.now());
  };
  return {
    marks,
    log: {
      ...inner,
      debug: (msg, f) => (mark(msg, f), inner.debug(msg, f)),
      info: (msg, f) => (mark(msg, f), inner.info(msg, f)),
    },
  };
}

const env = await setupEnv({ vars: { LOG_LEVEL: "error" } });
const { log, marks } = timedLogger();
let runner: Awaited<ReturnType<typeof startTestRunner>> | undefined;
const runIds: number[] = [];
const arrivals: { at: number; text: string }[] = [];

async function bare(args: string[]): Promise<number> {
  const t0 = performance.now();
  await run("docker", ["run", "--rm", "--network", "none", ...args]);
  return performance.now() - t0;
}

/** A run in an auto channel: POST /api/runs sent → the agent's first request reaches the API. */
async function freshRunToFirstTurn(channelId: string, prompt: string): Promise<number> {
  const t0 = performance.now();
  const { body } = await env.api("POST", "/api/runs", { channel_id: channelId, prompt });
  runIds.push(body.id);
  const first = await waitFor(`run ${body.id}'s first turn`, () => arrivals.find((a) => a.at > t0 && a.text.includes(prompt)), 120_000);
  await waitFor(`run ${body.id} to finish`, async () => ((await env.api("GET", `/api/runs/${body.id}`)).body.status === "succeeded" ? true : null), 120_000);
  return first.at - t0;
}

try {
  setRules(env, [
    // Notes when each request arrives (never answers).
    { match: (r) => (arrivals.push({ at: performance.now(), text: isMainTurn(r) ? lastUserText(r) : "" }), false), reply: {} },
    { match: (r) => isMainTurn(r) && !hasToolResult(r) && / run: /.test(lastUserText(r)), reply: (r) => ({ toolUses: [{ name: "Bash", input: { command: lastUserText(r).split(" run: ")[1]!.trim(), description: "bench" } }] }) },
    { match: isMainTurn, reply: { text: "Done." } },
  ]);
  const { token, channel } = await labelledRunner(env, "approval-bench");
  runner = await startTestRunner(runnerConfig(env, token, { concurrency: 1, log_level: "warn" }), { log });
  // One bare start of each first, so neither side pays for a cold page cache.
  await bare(["--entrypoint", "/bin/true", env.image]);
  await bare(["--entrypoint", "claude", env.image, "--version"]);

  const held = { containers: 0, slots: 0 };
  const click: number[] = [];
  const claimed: number[] = [];
  const started: number[] = [];
  const bareStart: number[] = [];
  const bareCli: number[] = [];
  const fresh: number[] = [];
  for (let i = 0; i < APPROVALS; i++) {
    const dir = agentDir(env, `approval-${i}`);
    const ch = await channel(dir);
    const policy = await env.api("PUT", `/api/channels/${ch}/policy`, { mode: "ask" });
    if (policy.status !== 200) throw new Error(`policy: ${policy.status} ${JSON.stringify(policy.body)}`);
    const file = join(dir, "approved.txt");
    const { body: created } = await env.api("POST", "/api/runs", { channel_id: ch, prompt: `approval ${i} run: touch ${file}` });
    runIds.push(created.id);
    await waitFor(`run ${created.id} to wait for approval`, async () => {
      const { body } = await env.api("GET", `/api/runs/${created.id}`);
      if (["succeeded", "failed", "cancelled", "lost"].includes(body.status)) throw new Error(`run ${created.id} ended ${body.status} instead of waiting: ${body.error}`);
      return body.status === "waiting_approval";
    }, 120_000);
    await waitFor("the runner to finish the parked job", () => runner!.handle.activeRuns().length === 0, 30_000);
    for (const until = performance.now() + HOLD_SAMPLE_MS; performance.now() < until; await sleep(250)) {
      held.containers = Math.max(held.containers, (await containersOf(created.id)).length);
      held.slots = Math.max(held.slots, runner.handle.activeRuns().length);
    }

    bareStart.push(await bare(["--entrypoint", "/bin/true", env.image]));
    for (const k of [...marks.keys()]) if (k.startsWith(`${created.id}:`)) marks.delete(k); // the first job's marks
    const t0 = performance.now();
    const decided = await env.api("POST", `/api/runs/${created.id}/approval`, { decision: "approve" });
    if (decided.status !== 200) throw new Error(`approval: ${decided.status} ${JSON.stringify(decided.body)}`);
    const deadline = t0 + 120_000;
    while (!existsSync(file)) {
      if (performance.now() > deadline) throw new Error(`the approved command of run ${created.id} did not run within 120 s`);
      await sleep(5);
    }
    const ran = performance.now() - t0;
    bareCli.push(await bare(["--entrypoint", "claude", env.image, "--version"]));
    fresh.push(await freshRunToFirstTurn(await channel(agentDir(env, `fresh-${i}`)), `plain ${i}`));
    const claimAt = marks.get(`${created.id}:job started`);
    const containerAt = marks.get(`${created.id}:container started`);
    click.push(ran);
    if (claimAt !== undefined) claimed.push(claimAt - t0);
    if (containerAt !== undefined) started.push(containerAt - t0);
    console.log(`  approval ${i + 1}: click → tool ran ${round(ran)} ms (claimed +${round((claimAt ?? NaN) - t0)} ms, container started +${round((containerAt ?? NaN) - t0)} ms); bare start ${round(bareStart.at(-1)!)} ms`);
    await waitFor(`run ${created.id} to finish`, async () => {
      const { body } = await env.api("GET", `/api/runs/${created.id}`);
      if (["failed", "cancelled", "lost"].includes(body.status)) throw new Error(`run ${created.id} ended ${body.status}: ${body.error}`);
      return body.status === "succeeded";
    }, 120_000);
  }

  const p50 = median(click);
  const base = median(bareStart);
  console.log(`while waiting: ${held.containers} container(s) and ${held.slots} runner slot(s) held (most seen over ${HOLD_SAMPLE_MS / 1000} s, ${APPROVALS} runs)`);
  console.log(`click → tool ran: p50 ${round(p50)} ms, worst ${round(Math.max(...click))} ms; of which claimed p50 ${round(median(claimed))} ms, container started p50 ${round(median(started))} ms`);
  console.log(`a fresh run (auto channel): POST /api/runs → its first request to the API p50 ${round(median(fresh))} ms`);
  console.log(`bare docker run: /bin/true p50 ${round(base)} ms; claude --version p50 ${round(median(bareCli))} ms`);
  console.log(`click → tool minus bare container start: ${round(p50 - base)} ms (goal ≤ 1000 ms)`);
  report([
    { bench: "approval", figure: "containers held while a run waits", value: held.containers, unit: "", goal: "≤ 0" },
    { bench: "approval", figure: "runner slots held while a run waits", value: held.slots, unit: "", goal: "≤ 0" },
    { bench: "approval", figure: "click → tool running in the new container, p50", value: round(p50), unit: "ms" },
    { bench: "approval", figure: "click → job claimed, p50", value: round(median(claimed)), unit: "ms" },
    { bench: "approval", figure: "click → container started, p50", value: round(median(started)), unit: "ms" },
    { bench: "approval", figure: "fresh run: POST /api/runs → first API request, p50", value: round(median(fresh)), unit: "ms" },
    { bench: "approval", figure: "bare `docker run` of the image (/bin/true), p50", value: round(base), unit: "ms" },
    { bench: "approval", figure: "bare `docker run` … claude --version, p50", value: round(median(bareCli)), unit: "ms" },
    { bench: "approval", figure: "click → tool minus bare container start, p50", value: round(p50 - base), unit: "ms", goal: "≤ 1000" },
  ]);
} finally {
  await runner?.stop().catch(() => {});
  for (const id of runIds) for (const c of await containersOf(id).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  await env.close();
}
