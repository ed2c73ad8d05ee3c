// The runner when things go wrong: cancel mid-run, the deadline, a claude that dies without
// a result (in an image the runner builds itself), a build that fails, a shutdown with
// runs in flight, and the Worker unreachable mid-run. Real Worker, Docker, claude, fake API.
// Each test runs its own runner; a runner label per test keeps jobs from reaching a runner
// stopped by an earlier test (its abandoned long-poll may still be parked in the Worker).
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isMainTurn, type RecordedRequest } from "../fakes/anthropic.ts";
import { agentDir, containersOf, createRun, docker, getRun, labelledRunner, runnerConfig, setRules, setupEnv, sleepMs, startProxy, startTestRunner, waitFor, waitForRun, type Env, type TestRunner } from "./helpers.ts";

let env: Env;
const runners: TestRunner[] = [];
const images: string[] = [];

beforeAll(async () => {
  // A short lease so an outage test fits in seconds; heartbeats come every ~3 s.
  env = await setupEnv({ vars: { LEASE_TTL_SECONDS: "10" } });
}, 300_000);

afterAll(async () => {
  for (const r of runners) await r.stop();
  for (const tag of images) await docker.getImage(tag).remove({ force: true }).catch(() => {});
  await env?.close();
});

async function runner(label: string, extra: Parameters<typeof runnerConfig>[2] = {}, deps: Parameters<typeof startTestRunner>[1] = {}) {
  const r = await labelledRunner(env, label);
  const started = await startTestRunner(runnerConfig(env, r.token, extra), deps);
  runners.push(started);
  return { ...r, runner: started };
}

const slowText = (words: number, delayMs: number) => ({ text: Array.from({ length: words }, (_, i) => `word${i}`).join(" "), delayMs });
const mainTurnsSeen = () => env.fake.messageRequests().filter(isMainTurn).length;

describe("loop runner when things go wrong", () => {
  it("cancel mid-run: the container is stopped and removed, the run ends cancelled", async () => {
    const { channel, runner: r } = await runner("cancel");
    setRules(env, [{ match: isMainTurn, reply: slowText(80, 200) }]); // 16 s of streaming
    const seen = mainTurnsSeen();
    const id = await createRun(env, await channel(agentDir(env, "cancel")), "Talk slowly");
    await waitFor("the reply to start streaming", () => mainTurnsSeen() > seen);
    const res = await env.api("POST", `/api/runs/${id}/cancel`);
    expect(res).toMatchObject({ status: 202, body: { outcome: "signalled" } });
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "cancelled", error: "cancelled on request" });
    expect(await containersOf(id)).toEqual([]);
    expect(r.lines.map((l) => l.msg)).toContain("cancel requested: stopping the container");
  });

  it("the deadline: a run longer than container_timeout_sec fails as timed out, container gone", async () => {
    const { channel } = await runner("timeout", { container_timeout_sec: 3 });
    setRules(env, [{ match: isMainTurn, reply: slowText(100, 200) }]);
    const id = await createRun(env, await channel(agentDir(env, "timeout")), "Never finish");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "failed", error: "timed out after 3 s" });
    expect(await containersOf(id)).toEqual([]);
  });

  it("the watchdog: an API that never answers is stopped after stall_timeout_sec of silence and the run fails saying so", async () => {
    const { channel } = await runner("stall", { stall_timeout_sec: 5, container_timeout_sec: 120 });
    setRules(env, [{ match: isMainTurn, reply: { hang: true } }]);
    const id = await createRun(env, await channel(agentDir(env, "stall")), "Hang");
    const run = await waitForRun(env, id, 90_000);
    expect(run).toMatchObject({ status: "failed", error: "no output for 5 s: the watchdog stopped the agent (stall_timeout_sec)" });
    const notices = (await env.api("GET", `/api/runs/${id}`)).body.events.filter((e: any) => e.type === "notice").map((e: any) => e.payload.message);
    expect(notices).toContain("watchdog: no output for 5 s; stopping the agent");
    expect(await containersOf(id)).toEqual([]);
  });

  it("an empty run: claude exits 0 with an empty answer and no tool use, and the run fails as 'the agent did nothing', said in its events too", async () => {
    const { channel } = await runner("empty");
    setRules(env, [{ match: isMainTurn, reply: { text: "" } }]);
    const id = await createRun(env, await channel(agentDir(env, "empty")), "Do nothing");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "failed", error: "the agent did nothing: it gave an empty answer and used no tools" });
    const notices = (await env.api("GET", `/api/runs/${id}`)).body.events.filter((e: any) => e.type === "notice").map((e: any) => e.payload.message);
    expect(notices).toContain("watchdog: the agent did nothing: it gave an empty answer and used no tools");
  });

  it("--max-turns and --max-budget-usd from the channel's limits reach the CLI in the container", async () => {
    const { channel } = await runner("limits", { max_budget_usd: 0.5 });
    setRules(env, [{ match: isMainTurn, reply: { text: "ok ok ok ok ok ok", delayMs: 400 } }]);
    const ch = await channel(agentDir(env, "limits"));
    expect((await env.api("PUT", `/api/channels/${ch}/limits`, { max_turns: 3, max_budget_usd: 2 })).status).toBe(200);
    const id = await createRun(env, ch, "Say ok");
    // The container is removed at the end; its command line is read while it runs.
    const argv = await waitFor("the agent container", async () => (await containersOf(id))[0]?.Command ?? null, 60_000);
    expect(argv).toContain("--max-turns 3");
    expect(argv).toContain("--max-budget-usd 0.5"); // the runner's ceiling wins over the channel's 2
    expect(await waitForRun(env, id)).toMatchObject({ status: "succeeded" });
  });

  it("a missing image is built from its Dockerfile; a claude that exits 3 without a result fails the run with its stderr", async () => {
    // The image context the runner builds when its image is missing: the test image with a broken claude.
    const context = mkdtempSync(join(env.base, "image-"));
    writeFileSync(join(context, "Dockerfile"), `FROM ${env.image}\nCOPY claude /usr/local/bin/claude\n`);
    writeFileSync(join(context, "claude"), '#!/bin/sh\necho "stub: the agent fell over" >&2\nexit 3\n');
    chmodSync(join(context, "claude"), 0o755);
    const tag = `loop-agent-stub:${Date.now().toString(36)}`;
    images.push(tag);
    const { channel, runner: r } = await runner("exit3", { container_image: tag }, { imageContextDir: context });
    expect(r.lines.filter((l) => l.level === "human").map((l) => l.msg)).toContainEqual(expect.stringMatching(new RegExp(`^image ${tag} built in \\d+ s$`)));

    const id = await createRun(env, await channel(agentDir(env, "exit3")), "Anything");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "failed", exit_code: 3, error: "claude exited with code 3 without a result: stub: the agent fell over", result_text: null });
  });

  it("a failing image build stops the runner at start with the build's own words", async () => {
    const context = mkdtempSync(join(env.base, "badimage-"));
    writeFileSync(join(context, "Dockerfile"), `FROM ${env.image}\nCOPY no-such-file /x\n`);
    const tag = `loop-agent-broken:${Date.now().toString(36)}`;
    const { token } = await labelledRunner(env, "badimage");
    await expect(startTestRunner(runnerConfig(env, token, { container_image: tag }), { imageContextDir: context })).rejects.toThrow(
      new RegExp(`could not build the agent image ${tag.replace(/[.:]/g, "\\$&")} from .*: .*no-such-file`, "s"),
    );
  });

  it("shutdown: running jobs may finish within the grace period; after it they are handed back, and run again on attempt 2", async () => {
    const { token, channel, runner: r } = await runner("shutdown", { concurrency: 2 });
    setRules(env, [
      { match: (q) => isMainTurn(q) && JSON.stringify(q.messages).includes("quick one"), reply: slowText(8, 100) },
      { match: isMainTurn, reply: slowText(100, 200) },
    ]);
    const quick = await createRun(env, await channel(agentDir(env, "quick")), "quick one");
    const slow = await createRun(env, await channel(agentDir(env, "slow")), "slow one");
    // Both replies must be streaming before the stop: then the quick one (0.8 s of text) ends
    // well inside the grace on any machine, and the slow one (20 s) cannot.
    const quickAsked = () => env.fake.messageRequests().some((q) => isMainTurn(q) && JSON.stringify(q.messages).includes("quick one"));
    const slowAsked = () => env.fake.messageRequests().some((q) => isMainTurn(q) && JSON.stringify(q.messages).includes("slow one"));
    await waitFor("both replies streaming", async () => quickAsked() && slowAsked() && (await getRun(env, slow)).status === "running");
    const t0 = Date.now();
    await r.handle.stop({ graceMs: 10_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(10_000);
    expect(await getRun(env, quick)).toMatchObject({ status: "succeeded", attempt: 1 });
    // Not cancelled: back in the queue for its next attempt at once (the lease has 10 s left).
    expect(await getRun(env, slow)).toMatchObject({ status: "queued", attempt: 2, finished_at: null });
    expect(await containersOf(slow)).toEqual([]);
    const human = r.lines.filter((l) => l.level === "human").map((l) => l.msg);
    expect(human).toContainEqual(expect.stringMatching(/^stopping: no new jobs; waiting up to 10 s for 2 running job\(s\), then handing them back/));
    expect(human).toContainEqual(`run ${slow} handed back to the Worker for attempt 2 (the runner is shutting down)`);

    // The same runner started again picks it up and finishes it.
    setRules(env, [{ match: isMainTurn, reply: { text: "Finished after the restart." } }]);
    const again = await startTestRunner(runnerConfig(env, token));
    runners.push(again);
    expect(await waitForRun(env, slow)).toMatchObject({ status: "succeeded", attempt: 2, result_text: "Finished after the restart." });
    expect(await containersOf(slow)).toEqual([]);
  });

  it("the Worker unreachable mid-run: events wait and are delivered, none lost, in order; the run completes", async () => {
    const proxy = await startProxy(env.worker.url);
    try {
      const { channel, runner: r } = await runner("outage", { worker_url: proxy.url });
      // Four Bash steps of ~1 s each, then an answer: events keep coming during the outage.
      const resultsIn = (q: RecordedRequest) => (q.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? m.content : [])).filter((b) => b.type === "tool_result").length;
      setRules(env, [
        { match: (q) => isMainTurn(q) && resultsIn(q) < 4, reply: (q) => ({ toolUses: [{ name: "Bash", input: { command: `sleep 1; echo step ${resultsIn(q) + 1}`, description: "step" } }] }) },
        { match: isMainTurn, reply: { text: "All steps done." } },
      ]);
      const seen = mainTurnsSeen();
      const id = await createRun(env, await channel(agentDir(env, "outage")), "Do four steps");
      await waitFor("the first step to finish", () => mainTurnsSeen() >= seen + 2);
      // The runner now keeps quiet for up to a heartbeat interval (~3 s here) between requests,
      // so a fixed pause could fall between two of them and cut nothing: hold the outage until
      // a request of the runner's has failed, then a little longer (well inside the 10 s lease).
      proxy.pause();
      const cutOff = ["events: worker unreachable, buffering", "heartbeat failed", "completion failed; retrying"];
      await waitFor("a request of the runner's to fail", () => r.lines.some((l) => cutOff.includes(l.msg)), 15_000);
      await sleepMs(1_500);
      proxy.resume();
      const run = await waitForRun(env, id);

      expect(run).toMatchObject({ status: "succeeded", result_text: "All steps done.", attempt: 1 });
      const types = run.events.map((e: any) => e.type);
      expect(types).toEqual(["init", ...Array(4).fill(["tool_use", "tool_result"]).flat(), "text"]);
      expect(run.events.map((e: any) => e.seq)).toEqual(types.map((_: unknown, i: number) => i + 1));
      expect(run.events.filter((e: any) => e.type === "tool_result").map((e: any) => e.payload.output)).toEqual(["step 1", "step 2", "step 3", "step 4"]);
    } finally {
      await proxy.close();
    }
  });
});
