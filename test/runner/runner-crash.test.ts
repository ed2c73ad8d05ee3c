// `loop runner` as a real child process: SIGKILL it mid-run and start it again. The new
// process removes the orphaned container and hands its lease back (the lease id is on the
// container's labels); the Worker re-queues the run at once and the new process completes it.
// The lease TTL is 10 minutes, longer than this test may take: the run can only come back
// through the hand-back, never by its lease running out. Then SIGTERM stops it cleanly.
// Logs never carry secrets.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isMainTurn } from "../fakes/anthropic.ts";
import { agentDir, API_KEY, configFile, containersOf, createRun, docker, labelledRunner, setRules, setupEnv, waitFor, waitForRun, type Env, killRunnerProcesses, spawnRunnerProcess } from "./helpers.ts";

let env: Env;

beforeAll(async () => {
  env = await setupEnv({ vars: { LEASE_TTL_SECONDS: "600" } });
}, 300_000);

afterAll(async () => {
  killRunnerProcesses();
  await env?.close();
});


describe("loop runner as a process", () => {
  it("SIGKILL mid-run: the restarted runner removes the orphan, hands its lease back, and finishes the run on attempt 2 without waiting out the lease; SIGTERM then exits 0", async () => {
    const { token, channel } = await labelledRunner(env, "crash");
    const configPath = join(env.base, "runner-config.json");
    writeFileSync(configPath, JSON.stringify(configFile(env, token, { concurrency: 1, log_level: "info" })));
    setRules(env, [
      { match: isMainTurn, times: 1, reply: { text: Array.from({ length: 100 }, (_, i) => `w${i}`).join(" "), delayMs: 200 } },
      { match: isMainTurn, reply: { text: "Recovered." } },
    ]);

    const first = spawnRunnerProcess(configPath);
    await waitFor("the first runner to wait for jobs", () => first.out.stderr.includes("waiting for jobs (long-poll)"), 60_000);
    const id = await createRun(env, await channel(agentDir(env, "crash")), "Take your time");
    const [orphan] = await waitFor("the agent container", async () => {
      const found = await containersOf(id);
      return found.some((c) => c.State === "running") && env.fake.messageRequests().some(isMainTurn) ? found : null;
    });
    first.child.kill("SIGKILL");
    await first.exited;
    const orphaned = await docker.getContainer(orphan!.Id).inspect();
    expect(orphaned.State.Running).toBe(true); // orphaned, still working
    expect(orphaned.Config.Labels).toMatchObject({ "loop.run": String(id), "loop.attempt": "1", "loop.lease": expect.stringMatching(/^lease_/) });

    const second = spawnRunnerProcess(configPath);
    await waitFor("the orphan's removal", () => second.out.stderr.includes("left over from an earlier run"), 60_000);
    await expect(docker.getContainer(orphan!.Id).inspect()).rejects.toMatchObject({ statusCode: 404 });

    // Handed back, not expired: attempt 2 goes to the new process.
    await waitFor("the hand-back", () => second.out.stderr.includes(`handed 1 orphaned run(s) back to the Worker: run ${id} (re-queued for attempt 2)`), 30_000);
    const run = await waitForRun(env, id, 90_000);
    expect(run).toMatchObject({ status: "succeeded", attempt: 2, result_text: "Recovered." });
    expect(await containersOf(id)).toEqual([]);

    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.out.stderr).toMatch(/runner stopped\n$/);

    // Structured log lines are JSON, one per line; no secret appears anywhere.
    const lines = second.out.stdout.trim().split("\n");
    for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(expect.arrayContaining(["runner started", "job started", "job finished"]));
    for (const text of [first.out.stdout, first.out.stderr, second.out.stdout, second.out.stderr]) {
      expect(text).not.toContain(API_KEY);
      expect(text).not.toContain(token);
    }
  }, 180_000);
});
