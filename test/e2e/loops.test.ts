// Loops end to end (docs/loops.md): a real Worker (wrangler dev), the real runner, the real
// Claude Code CLI in Docker, the fake Anthropic API scripted per iteration.
//
//   1. A loop with a monitor command, every 2s and a system prompt: iteration 1's agent keeps
//      a note in persistent memory through MCP, iteration 3's calls loop_done. The loop stops
//      after exactly 3 runs; iteration 2's request to the model holds iteration 1's answer,
//      the monitor's output and the note; starts are at least 2 s apart.
//   2. Stop mid-iteration: the running iteration is cancelled in its container and no further
//      run starts.
//
// Needs Docker, root (chown to the container user) and the test agent image (built on first use).
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationText, hasToolResult, isMainTurn, lastUserText, type RecordedRequest } from "../fakes/anthropic.ts";
import { agentDir, containersOf, labelledRunner, runnerConfig, setRules, setupEnv, sleepMs, startTestRunner, waitFor, type Env, type TestRunner } from "../runner/helpers.ts";

let env: Env;
let runner: TestRunner;
let channelOf: (dir: string) => Promise<string>;

beforeAll(async () => {
  env = await setupEnv();
  const labelled = await labelledRunner(env, "e2e-loops");
  channelOf = labelled.channel;
  runner = await startTestRunner(runnerConfig(env, labelled.token, { labels: ["e2e-loops"] }));
}, 300_000);

afterAll(async () => {
  await runner?.stop();
  await env?.close();
});

/** The agent's first request of iteration n (not a tool-result follow-up). */
const iterationTurn = (marker: string, n: number) => (r: RecordedRequest) =>
  isMainTurn(r) && !hasToolResult(r) && lastUserText(r).includes(`<loop iteration="${n}"`) && lastUserText(r).includes(marker);
/** A follow-up request of iteration n, after a tool ran. */
const iterationFollowUp = (marker: string, n: number) => (r: RecordedRequest) =>
  isMainTurn(r) && hasToolResult(r) && conversationText(r).includes(`<loop iteration="${n}"`) && conversationText(r).includes(marker);

const systemText = (r: RecordedRequest): string => (typeof r.system === "string" ? r.system : JSON.stringify(r.system ?? ""));

async function loopRuns(loopId: number): Promise<any[]> {
  return (await env.api("GET", `/api/loops/${loopId}`)).body.iterations;
}

describe("loops with the real Claude CLI in Docker", () => {
  it("watches a monitor command, keeps a memory, and stops itself after exactly 3 iterations when the agent calls loop_done", async () => {
    const workdir = agentDir(env, "loop");
    const status = `STATUS-${randomUUID().slice(0, 8)}`;
    writeFileSync(join(workdir, "status.txt"), `${status}: 2 tests failing\n`);
    const channel = await channelOf(workdir);
    const marker = `E2E-LOOP-${randomUUID().slice(0, 8)}`;
    const note = `NOTE-${randomUUID().slice(0, 8)}`;
    const system = `SYSTEM-${randomUUID().slice(0, 8)}: answer in one line.`;
    setRules(env, [
      {
        match: iterationTurn(marker, 1),
        times: 1,
        reply: { text: "Noting what I found.", toolUses: [{ name: "mcp__loop__memory_append", input: { kind: "persistent", text: note } }] },
      },
      { match: iterationFollowUp(marker, 1), times: 1, reply: { text: `ANSWER-1 ${marker}: the cache is stale.` } },
      { match: iterationTurn(marker, 2), times: 1, reply: { text: `ANSWER-2 ${marker}: cleared the cache.` } },
      { match: iterationTurn(marker, 3), times: 1, reply: { text: "All green now.", toolUses: [{ name: "mcp__loop__loop_done", input: { summary: `${marker} is green` } }] } },
      { match: iterationFollowUp(marker, 3), times: 1, reply: { text: `ANSWER-3 ${marker}: done.` } },
    ]);

    const started = await env.api("POST", "/api/loops", {
      channel_id: channel,
      prompt: `${marker}: make the tests pass.`,
      system_prompt: system,
      every: "2s",
      max_iterations: 10,
      monitor_command: "cat status.txt; echo exit-check >&2",
    });
    expect(started.status, JSON.stringify(started.body)).toBe(201);
    const loopId = started.body.id as number;

    const ended = await waitFor("the loop to end", async () => {
      const loop = (await env.api("GET", `/api/loops/${loopId}`)).body;
      return loop.status !== "running" ? loop : null;
    }, 150_000);
    expect(ended, JSON.stringify(ended)).toMatchObject({ status: "done", end_reason: "loop_done", summary: `${marker} is green`, iteration: 3 });

    // Exactly three runs, all succeeded, each with the monitor's output stored beside it.
    const iterations = ended.iterations as any[];
    expect(iterations.map((i) => [i.iteration, i.status])).toEqual([
      [1, "succeeded"],
      [2, "succeeded"],
      [3, "succeeded"],
    ]);
    expect(iterations.map((i) => i.result_text)).toEqual([`ANSWER-1 ${marker}: the cache is stale.`, `ANSWER-2 ${marker}: cleared the cache.`, `ANSWER-3 ${marker}: done.`]);
    for (const i of iterations) {
      expect(i.monitor_exit_code).toBe(0);
      expect(i.monitor_output).toContain(`${status}: 2 tests failing`);
      expect(i.monitor_output).toContain("exit-check"); // stderr too
    }
    const runs = (await env.api("GET", `/api/runs?channel_id=${channel}`)).body.runs;
    expect(runs.map((r: any) => r.loop_id)).toEqual([loopId, loopId, loopId]);

    // Iteration 2's request to the model: iteration 1's answer, the monitor output, the note.
    const second = env.fake.messageRequests().find(iterationTurn(marker, 2))!;
    const seen = lastUserText(second);
    expect(seen).toContain(`<previous_answer iteration="1">\nANSWER-1 ${marker}: the cache is stale.\n</previous_answer>`);
    expect(seen).toContain(`<monitor_output command="cat status.txt; echo exit-check >&2" exit_code="0"`);
    expect(seen).toContain(`${status}: 2 tests failing`);
    expect(seen).toContain(`<persistent_memory>\n${note}\n</persistent_memory>`);
    expect(seen.endsWith(`${marker}: make the tests pass.`)).toBe(true);
    // The stored prompt is exactly what the model was given; the system prompt went in as --append-system-prompt.
    expect(seen).toContain(iterations[1].prompt);
    expect(systemText(second)).toContain(system);
    // Iteration 1 saw neither an answer nor the note yet.
    const first = lastUserText(env.fake.messageRequests().find(iterationTurn(marker, 1))!);
    expect(first).not.toContain("previous_answer");
    expect(first).not.toContain(note);

    // every: 2s spaces the starts by at least 2 s.
    const starts = iterations.map((i) => Date.parse(i.started_at));
    expect(starts[1]! - starts[0]!).toBeGreaterThanOrEqual(2_000);
    expect(starts[2]! - starts[1]!).toBeGreaterThanOrEqual(2_000);

    // Nothing follows: no fourth run shows up past another `every`, no container is left.
    await sleepMs(3_000);
    expect(await loopRuns(loopId)).toHaveLength(3);
    for (const i of iterations) expect(await containersOf(i.run_id)).toEqual([]);
    expect(env.fake.messageRequests().some(iterationTurn(marker, 4))).toBe(false);
  }, 200_000);

  it("stop mid-iteration cancels the running iteration in its container and ends the loop with no further run", async () => {
    const workdir = agentDir(env, "loop-stop");
    const channel = await channelOf(workdir);
    const marker = `E2E-LOOP-STOP-${randomUUID().slice(0, 8)}`;
    setRules(env, [{ match: (r) => isMainTurn(r) && conversationText(r).includes(marker), reply: { text: Array.from({ length: 200 }, (_, i) => `w${i}`).join(" "), delayMs: 200 } }]);
    const started = await env.api("POST", "/api/loops", { channel_id: channel, prompt: `${marker}: keep talking.` });
    expect(started.status).toBe(201);
    const loopId = started.body.id as number;

    const running = await waitFor("iteration 1 talking in its container", async () => {
      const [first] = await loopRuns(loopId);
      const talking = env.fake.messageRequests().some((r) => isMainTurn(r) && conversationText(r).includes(marker));
      return first?.status === "running" && talking && (await containersOf(first.run_id)).length === 1 ? first : null;
    }, 60_000);

    const stop = await env.api("POST", `/api/loops/${loopId}/stop`);
    expect(stop.body).toMatchObject({ outcome: "stopped", loop: { status: "stopped", end_reason: "stopped" } });
    const [cancelled] = await waitFor("the iteration to end", async () => {
      const list = await loopRuns(loopId);
      return list[0] && !["queued", "running"].includes(list[0].status) ? list : null;
    }, 60_000);
    expect(cancelled).toMatchObject({ run_id: running.run_id, status: "cancelled" });
    await sleepMs(2_000);
    expect(await loopRuns(loopId)).toHaveLength(1);
    expect((await env.api("GET", `/api/loops/${loopId}`)).body).toMatchObject({ status: "stopped", iteration: 1 });
    expect(await containersOf(running.run_id)).toEqual([]);
  }, 150_000);
});
