// Approvals end to end (issue 13), with the real Claude Code CLI in Docker and the fake
// Anthropic API asking for a Bash call. A channel in `ask` mode gets a PreToolUse hook that
// defers the call: the container ends, the run waits as waiting_approval, and a decision
// resumes it in a fresh container (`claude --resume`, no prompt) whose hook answers it.
//
//   - while a run waits, no container of it exists and the one-slot runner finishes another
//     channel's job;
//   - Approve runs the command (its file appears) and the run succeeds;
//   - Deny leaves no file, and the model's next turn gets the refusal as an error tool_result;
//   - Always allow stores the narrowest rule; the next identical call runs without asking;
//   - expiry (approval_timeout) denies with "no decision" through the sweep;
//   - a runner process SIGKILLed while its run waits changes nothing: the run still waits,
//     and a decision is carried out by the restarted runner.
//
// One Worker, one fake and one in-process runner serve the whole file; the SIGKILL case has
// its own runner process with a label of its own. Needs Docker, root (chown to the container
// user) and the test agent image (built on first use).
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasToolResult, isMainTurn, lastUserText, type RecordedRequest } from "../fakes/anthropic.ts";
import { agentDir, configFile, containersOf, createRun, docker, getRun, labelledRunner, runnerConfig, setRules, setupEnv, startTestRunner, waitFor, waitForRun, type Env, type TestRunner, killRunnerProcesses, spawnRunnerProcess } from "../runner/helpers.ts";

const LABEL = "e2e-approvals";
let env: Env;
let runner: TestRunner;
let newChannel: (dir: string) => Promise<string>;
const runIds: number[] = [];

beforeAll(async () => {
  env = await setupEnv({ vars: { LOG_LEVEL: "error" } });
  setRules(env, [
    // The agent's first turn for a prompt "<marker> run: <command>": one Bash call.
    { match: (r) => isMainTurn(r) && !hasToolResult(r) && / run: /.test(lastUserText(r)), reply: (r) => ({ toolUses: [{ name: "Bash", input: { command: lastUserText(r).split(" run: ")[1]!.trim(), description: "as asked" } }] }) },
    // After the call (run or refused): say what the tool answered, so the result shows it.
    { match: (r) => isMainTurn(r) && hasToolResult(r), reply: (r) => ({ text: `tool said: ${toolResult(r)?.text ?? "nothing"}` }) },
    { match: isMainTurn, reply: { text: "Plain answer." } },
  ]);
  const labelled = await labelledRunner(env, LABEL);
  newChannel = labelled.channel;
  runner = await startTestRunner(runnerConfig(env, labelled.token, { concurrency: 1 }));
}, 300_000);

afterAll(async () => {
  killRunnerProcesses();
  await runner?.stop().catch(() => {});
  for (const id of runIds) for (const c of await containersOf(id).catch(() => [])) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {});
  await env?.close();
}, 60_000);

// ---- helpers ------------------------------------------------------------------------------

/** The newest tool_result the model was sent in this request. */
function toolResult(r: RecordedRequest): { text: string; isError: boolean } | null {
  const msgs = r.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const content = msgs[i]!.content;
    if (msgs[i]!.role !== "user" || !Array.isArray(content)) continue;
    const block = content.find((b) => b.type === "tool_result");
    if (!block) continue;
    const text = typeof block.content === "string" ? block.content : (block.content ?? []).map((c: any) => c.text ?? "").join("");
    return { text, isError: block.is_error === true };
  }
  return null;
}

/** The model's requests that carried the result of this command (the turn after the call). */
const turnsAfter = (command: string) =>
  env.fake.messageRequests().filter((r) => isMainTurn(r) && hasToolResult(r) && JSON.stringify(r.messages).includes(JSON.stringify(command).slice(1, -1)));

async function askChannel(name: string, policy: object = {}): Promise<{ id: string; dir: string }> {
  const dir = agentDir(env, name);
  const id = await newChannel(dir);
  const res = await env.api("PUT", `/api/channels/${id}/policy`, { mode: "ask", ...policy });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { id, dir };
}

async function start(channelId: string, prompt: string): Promise<number> {
  const id = await createRun(env, channelId, prompt);
  runIds.push(id);
  return id;
}

/** Waits for the run to park, and returns it. */
async function parked(id: number): Promise<any> {
  const run = await waitForRun(env, id, 120_000);
  expect(run.status, JSON.stringify(run)).toBe("waiting_approval");
  return run;
}

const decide = (id: number, body: object) => env.api("POST", `/api/runs/${id}/approval`, body);
const eventTypes = (run: any): string[] => run.events.map((e: any) => e.type);

/** Until the runner removed the run's container: a parked run holds none. */
const noContainers = (id: number) => waitFor(`run ${id}'s container to be gone`, async () => (await containersOf(id)).length === 0, 30_000);

// ---- the cases --------------------------------------------------------------------------------

describe("approvals with the real CLI", () => {
  it("ask defers the Bash call: the run waits with no container, and the one-slot runner finishes another channel's job meanwhile; Approve runs the command", async () => {
    const { id: channel, dir } = await askChannel("approve");
    const file = join(dir, "approved.txt");
    const command = `touch ${file}`;
    const id = await start(channel, `APPROVE run: ${command}`);

    const waiting = await parked(id);
    expect(waiting.pending_approval).toMatchObject({ deferral: 1, tool_name: "Bash", input: { command } });
    expect(waiting.pending_approval.tool_use_id).toMatch(/^toolu_/);
    expect(waiting.session_id).toBeTruthy();
    expect(eventTypes(waiting)).toContain("approval_requested");
    expect(existsSync(file)).toBe(false);
    await noContainers(id);
    expect(runner.handle.activeRuns()).toEqual([]);

    // The only slot is free: a run in another channel (auto mode) is claimed and finished.
    const other = await newChannel(agentDir(env, "other"));
    const otherId = await start(other, "Say something plain.");
    expect(await waitForRun(env, otherId, 120_000)).toMatchObject({ status: "succeeded", result_text: "Plain answer." });
    expect((await getRun(env, id)).status).toBe("waiting_approval");

    const decided = await decide(id, { decision: "approve", deferral: 1 });
    expect(decided.status, JSON.stringify(decided.body)).toBe(200);
    const done = await waitForRun(env, id, 120_000);
    expect(done, JSON.stringify(done)).toMatchObject({ status: "succeeded", attempt: 1, pending_approval: null });
    expect(existsSync(file)).toBe(true);
    expect(eventTypes(done)).toEqual(expect.arrayContaining(["approval_requested", "approval_decided"]));
    // The model's turn after the call got the command's (empty) output, not an error.
    expect(turnsAfter(command).map(toolResult)).toEqual([expect.objectContaining({ isError: false })]);
    await noContainers(id);
  }, 300_000);

  it("Deny leaves no file, and the model's next turn gets the refusal with its reason", async () => {
    const { id: channel, dir } = await askChannel("deny");
    const file = join(dir, "denied.txt");
    const command = `touch ${file}`;
    const id = await start(channel, `DENY run: ${command}`);
    await parked(id);

    expect((await decide(id, { decision: "deny", reason: "not on a Sunday" })).status).toBe(200);
    const done = await waitForRun(env, id, 120_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    expect(existsSync(file)).toBe(false);
    const [seen] = turnsAfter(command).map(toolResult);
    expect(seen).toMatchObject({ isError: true, text: expect.stringContaining("not on a Sunday") });
    expect(done.result_text).toContain("not on a Sunday");
  }, 300_000);

  it("Always allow stores the narrowest rule in the channel's policy; the next identical call runs without asking", async () => {
    const { id: channel, dir } = await askChannel("always", { allow: ["Read"] });
    const file = join(dir, "always.txt");
    const command = `touch ${file}`;
    const first = await start(channel, `ALWAYS-1 run: ${command}`);
    await parked(first);

    expect((await decide(first, { decision: "always_allow" })).status).toBe(200);
    expect((await env.api("GET", `/api/channels/${channel}/policy`)).body.allow).toEqual(["Read", `Bash(${command})`]);
    expect(await waitForRun(env, first, 120_000)).toMatchObject({ status: "succeeded" });
    expect(existsSync(file)).toBe(true);

    rmSync(file);
    const second = await start(channel, `ALWAYS-2 run: ${command}`);
    const done = await waitForRun(env, second, 120_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    expect(eventTypes(done)).not.toContain("approval_requested");
    expect(existsSync(file)).toBe(true);
  }, 300_000);

  it("expiry: an undecided call is denied with 'no decision' by the sweep, and the agent carries on", async () => {
    const { id: channel, dir } = await askChannel("expiry", { approval_timeout: "1s" });
    const file = join(dir, "expired.txt");
    const command = `touch ${file}`;
    const id = await start(channel, `EXPIRE run: ${command}`);
    const waiting = await parked(id);
    const expiresAt = Date.parse(waiting.pending_approval.expires_at);

    // wrangler dev fires the Cron Trigger only on request; the sweep runs until it has acted.
    await waitFor("the sweep to expire the held call", async () => {
      if (Date.now() <= expiresAt) return false;
      const res = await fetch(`${env.worker.url}/cdn-cgi/local/scheduled`);
      expect(res.status).toBe(200);
      return (await getRun(env, id)).status !== "waiting_approval";
    }, 60_000);
    const done = await waitForRun(env, id, 120_000);
    expect(done.status, JSON.stringify(done)).toBe("succeeded");
    const decided = done.events.find((e: any) => e.type === "approval_decided");
    expect(decided.payload).toMatchObject({ decision: "deny", by: "expiry", reason: "no decision" });
    expect(existsSync(file)).toBe(false);
    expect(turnsAfter(command).map(toolResult)).toEqual([expect.objectContaining({ isError: true, text: expect.stringContaining("no decision") })]);
  }, 300_000);

  it("a runner SIGKILLed while its run waits changes nothing; the restarted runner carries out the decision", async () => {
    const label = `${LABEL}-kill`;
    const own = await labelledRunner(env, label);
    const dir = agentDir(env, "killed");
    const channel = await own.channel(dir);
    expect((await env.api("PUT", `/api/channels/${channel}/policy`, { mode: "ask" })).status).toBe(200);
    const configPath = join(env.base, "kill-runner.json");
    // One config (and state_dir, where the Claude session lives) for both processes.
    const config = configFile(env, own.token, { concurrency: 1, log_level: "info" });
    writeFileSync(configPath, JSON.stringify(config));

    const first = spawnRunnerProcess(configPath);
    await waitFor("the runner to wait for jobs", () => first.out.stderr.includes("waiting for jobs (long-poll)"), 60_000);
    const file = join(dir, "after-kill.txt");
    const command = `touch ${file}`;
    const id = await start(channel, `KILL run: ${command}`);
    const waiting = await parked(id);
    await noContainers(id);

    first.child.kill("SIGKILL");
    await first.exited;
    const after = await getRun(env, id);
    expect(after).toMatchObject({ status: "waiting_approval", pending_approval: waiting.pending_approval, attempt: waiting.attempt });
    expect(after.events).toEqual(waiting.events);
    expect(await containersOf(id)).toEqual([]);

    expect((await decide(id, { decision: "approve" })).status).toBe(200);
    // The restarted runner (in-process here: the process start was shown above) has the same state_dir.
    const second = await startTestRunner(runnerConfig(env, own.token, config));
    try {
      const done = await waitForRun(env, id, 120_000);
      expect(done.status, JSON.stringify(done)).toBe("succeeded");
      expect(existsSync(file)).toBe(true);
    } finally {
      await second.stop();
    }
  }, 300_000);
});

