// The runner end to end: a real Worker (wrangler dev), the real Docker engine, the real
// claude binary in the test agent image, and the fake Anthropic API. One Worker and one
// in-process runner for the whole file; each test makes its own channel.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationText, hasToolResult, isMainTurn, lastUserText } from "../fakes/anthropic.ts";
import { channelDir } from "../../runner/workspace.ts";
import { postJson, type PostJson } from "../../runner/http-post.ts";
import { agentDir, API_KEY, containersOf, createRun, docker, labelledRunner, makeChannel, registerRunner, runnerConfig, setRules, setupEnv, startTestRunner, waitFor, waitForRun, type Env, type TestRunner } from "./helpers.ts";

let env: Env;
let runner: TestRunner;
const runners: TestRunner[] = [];

beforeAll(async () => {
  env = await setupEnv();
  const token = await registerRunner(env);
  runner = await startTestRunner(runnerConfig(env, token, { container_memory_mb: 768, container_cpus: 1.5, container_pids: 300 }));
}, 300_000);

afterAll(async () => {
  for (const r of runners) await r.stop();
  await runner?.stop();
  await env?.close();
});

const mainTurnsSince = (n: number) => env.fake.messageRequests().filter(isMainTurn).slice(n);
const mainTurnCount = () => env.fake.messageRequests().filter(isMainTurn).length;

describe("loop runner against a real Worker and Docker", () => {
  it("a text answer: the run succeeds with result text, tokens, cost, model and events over REST", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Hello from the fake model.", usage: { input_tokens: 42, output_tokens: 7 } } }]);
    const channel = await makeChannel(env, agentDir(env, "text"));
    const id = await createRun(env, channel, "Say hello");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "succeeded", attempt: 1, result_text: "Hello from the fake model.", input_tokens: 42, output_tokens: 7, exit_code: 0, error: null, model: "claude-opus-5-5" });
    expect(run.cost_usd).toBeGreaterThan(0);
    expect(run.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(run.events.map((e: any) => e.type)).toEqual(["init", "text"]);
    expect(run.events[0].payload.tools).toContain("mcp__loop__schedule_task"); // the Worker's MCP, offered directly
    expect(run.events[1].payload).toEqual({ type: "text", text: "Hello from the fake model." });
    // The container is gone, and the person watching saw the run start and end.
    expect(await containersOf(id)).toEqual([]);
    const human = runner.lines.filter((l) => l.level === "human").map((l) => l.msg);
    expect(human).toContainEqual(expect.stringMatching(new RegExp(`^run ${id} started \\(channel ${channel}, attempt 1\\): "Say hello"`)));
    expect(human).toContainEqual(expect.stringMatching(new RegExp(`^run ${id} succeeded in [\\d.]+ s, 42 in / 7 out tokens, \\$0\\.\\d{4}`)));
    expect(human).toContain("waiting for jobs (long-poll)");
  });

  it("a tool run writes into the workdir at its real path; the project's .loop/config.json adds a mount and sets the model", async () => {
    const workdir = agentDir(env, "tools");
    mkdirSync(join(workdir, ".loop"));
    mkdirSync(join(workdir, "extra"));
    writeFileSync(join(workdir, "extra/hello.txt"), "from the project mount\n");
    writeFileSync(join(workdir, ".loop/config.json"), `{ "mounts": ["./extra:/opt/extra:ro"], "claude_model": "claude-project-model", }`);
    const target = join(workdir, "notes/out.txt");
    const before = mainTurnCount();
    setRules(env, [
      {
        match: (r) => isMainTurn(r) && !hasToolResult(r),
        reply: { text: "Writing it.", toolUses: [{ name: "Bash", input: { command: `mkdir -p ${workdir}/notes && cat /opt/extra/hello.txt > ${target} && id -u`, description: "write" } }] },
      },
      { match: isMainTurn, reply: { text: "Done." } },
    ]);
    const channel = await makeChannel(env, workdir);
    const run = await waitForRun(env, await createRun(env, channel, "Write the file"));
    expect(run).toMatchObject({ status: "succeeded", result_text: "Done.", model: "claude-project-model" });
    expect(readFileSync(target, "utf8")).toBe("from the project mount\n");
    expect(statSync(target).uid).toBe(1000); // written by the container's non-root user
    expect(run.events.map((e: any) => e.type)).toEqual(["init", "text", "tool_use", "tool_result", "text"]);
    const [use, result] = [run.events[2].payload, run.events[3].payload];
    expect(use).toMatchObject({ name: "Bash" });
    expect(JSON.parse(use.input).command).toContain(target);
    expect(result).toEqual({ type: "tool_result", tool_use_id: use.id, is_error: false, output: "1000" });
    expect(mainTurnsSince(before).map((r) => r.model)).toEqual(["claude-project-model", "claude-project-model"]);
  });

  it("the next run of a channel resumes its session; its cost is its own turn, not the session's", async () => {
    setRules(env, [
      { match: (r) => isMainTurn(r) && lastUserText(r).includes("What was the word"), reply: (r) => ({ text: conversationText(r).includes("PINEAPPLE") ? "It was PINEAPPLE." : "No idea.", usage: { input_tokens: 100, output_tokens: 10 } }) },
      { match: isMainTurn, reply: { text: "Noted.", usage: { input_tokens: 100, output_tokens: 10 } } },
    ]);
    const channel = await makeChannel(env, agentDir(env, "resume"));
    const first = await waitForRun(env, await createRun(env, channel, "Remember the word PINEAPPLE"));
    expect(first.status).toBe("succeeded");
    const before = mainTurnCount();
    const secondId = await createRun(env, channel, "What was the word?");
    const second = await waitForRun(env, secondId);
    expect(second).toMatchObject({ status: "succeeded", result_text: "It was PINEAPPLE.", session_id: first.session_id });
    // The job carried the channel's session, and the model saw the earlier conversation.
    expect(runner.lines).toContainEqual(expect.objectContaining({ msg: "job started", fields: expect.objectContaining({ run_id: secondId, resume: first.session_id }) }));
    const [resumed] = mainTurnsSince(before);
    expect(conversationText(resumed!)).toContain("Remember the word PINEAPPLE");
    expect(conversationText(resumed!)).toContain("Noted.");
    // The CLI reports the session's cumulative cost on --resume; the run records only its own.
    expect(second.cost_usd).toBeCloseTo(first.cost_usd, 9);
    expect(second).toMatchObject({ input_tokens: 100, output_tokens: 10 });
  });

  it("a session that vanished from the runner: the run starts a new one and records a notice", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Fresh start." } }]);
    const channel = await makeChannel(env, agentDir(env, "vanish"));
    const first = await waitForRun(env, await createRun(env, channel, "First"));
    expect(first.status).toBe("succeeded");
    // Lose the channel's Claude state (a new disk, a wiped state_dir, another runner host).
    const claudeDir = join(channelDir(runner.config.stateDir, channel), "claude");
    for (const entry of readdirSync(claudeDir)) rmSync(join(claudeDir, entry), { recursive: true, force: true });

    const second = await waitForRun(env, await createRun(env, channel, "Second"));
    expect(second).toMatchObject({ status: "succeeded", result_text: "Fresh start." });
    expect(second.session_id).not.toBe(first.session_id);
    const notice = second.events.find((e: any) => e.type === "notice");
    expect(notice.payload.message).toBe(`session ${first.session_id} no longer exists on this runner; started a new session`);
    expect(second.events.map((e: any) => e.type)).toEqual(["notice", "init", "text"]);
  });

  it("the container is limited and unprivileged; neither the API key nor the run token is visible in docker inspect", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: Array.from({ length: 15 }, (_, i) => `w${i}`).join(" "), delayMs: 100 } }]);
    const channel = await makeChannel(env, agentDir(env, "inspect"));
    const id = await createRun(env, channel, "Talk a little");
    const [info] = await waitFor("the container", async () => ((await containersOf(id)).some((c) => c.State === "running") ? containersOf(id) : null));
    const inspect = await docker.getContainer(info!.Id).inspect();
    // The private run dir while the run lasts: the MCP config with the run token, for uid 1000 only.
    const runsDir = join(runner.config.stateDir, "runs");
    const [runDir] = readdirSync(runsDir).filter((d) => d.startsWith(`${id}-`));
    const mcpFile = join(runsDir, runDir!, "mcp.json");
    const runToken = JSON.parse(readFileSync(mcpFile, "utf8")).mcpServers.loop.headers.Authorization.replace("Bearer ", "");
    expect(statSync(mcpFile)).toMatchObject({ uid: 1000, gid: 1000 });
    expect(statSync(mcpFile).mode & 0o777).toBe(0o600);
    expect((await waitForRun(env, id)).status).toBe("succeeded");
    expect(existsSync(join(runsDir, runDir!))).toBe(false);

    expect(inspect.Name).toBe(`/loop-${runner.handle.runnerKey}-run-${id}`);
    expect(inspect.Config.Labels).toMatchObject({ "loop.run": String(id), "loop.channel": channel, "loop.runner": runner.handle.runnerKey });
    expect(inspect.Config.User).toBe("1000:1000");
    expect(inspect.HostConfig).toMatchObject({ Memory: 768 * 1024 * 1024, NanoCpus: 1_500_000_000, PidsLimit: 300, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"], Privileged: false, NetworkMode: "host" });
    expect(inspect.HostConfig.CapAdd ?? []).toEqual([]);
    expect(JSON.stringify(inspect.Mounts)).not.toContain("docker.sock");
    const all = JSON.stringify(inspect);
    expect(all).not.toContain(API_KEY);
    expect(all).not.toContain(runToken);
    expect(all).not.toContain("Talk a little"); // the prompt went through stdin too
    // ... yet the key reached the API.
    expect(env.fake.messageRequests().at(-1)!.apiKey).toBe(API_KEY);
  });

  it("a channel whose directory does not exist on the runner fails clearly, without a container", async () => {
    const channel = await makeChannel(env, join(env.base, "no-such-project"));
    const id = await createRun(env, channel, "Anything");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "failed", error: `the directory ${join(env.base, "no-such-project")} does not exist on this runner host; create it or fix the channel's dir_path` });
    expect(await containersOf(id)).toEqual([]);
  });
});

// What a run costs in requests (issue 15): every request the runner sends, recorded on its
// real HTTP transport. The first contact under a lease is deferred (FIRST_CONTACT_MS, 4 s);
// here it is stretched to 10 s, still inside the Worker's 14 s acknowledgement window, so a
// plain answer (about 3 s) ends before it even on a busy machine, and a 12 s reply does not.
describe("requests per run against the real Worker", () => {
  const FIRST_CONTACT_MS = 10_000;
  const sent: string[] = [];
  const recording: PostJson = (url, headers, body, signal) => {
    sent.push(new URL(url).pathname.replace("/runner/v1/", ""));
    return postJson(url, headers, body, signal);
  };
  let counted: Awaited<ReturnType<typeof labelledRunner>>;
  const ofRun = (id: number) => sent.filter((p) => p.startsWith(`runs/${id}/`)).map((p) => p.slice(`runs/${id}/`.length));

  beforeAll(async () => {
    counted = await labelledRunner(env, "counted");
    runners.push(await startTestRunner(runnerConfig(env, counted.token, { container_memory_mb: 768 }), { post: recording, firstContactMs: FIRST_CONTACT_MS }));
  }, 120_000);

  it("a run that ends before its first contact is due: the claim and the completion, which carries every event", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Quick." } }]);
    const id = await createRun(env, await counted.channel(agentDir(env, "counted-quick")), "Be quick");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "succeeded", attempt: 1, result_text: "Quick." });
    expect(run.events.map((e: any) => e.type)).toEqual(["init", "text"]);
    expect(ofRun(id)).toEqual(["complete"]);
  });

  it("a longer run: its first request is one event batch, which acknowledges the lease, with no heartbeat before it", async () => {
    // 60 words, 200 ms apart: the answer takes 12 s, past the first contact.
    setRules(env, [{ match: isMainTurn, reply: { text: Array.from({ length: 60 }, (_, i) => `w${i}`).join(" "), delayMs: 200 } }]);
    const id = await createRun(env, await counted.channel(agentDir(env, "counted-slow")), "Take a while");
    const run = await waitForRun(env, id);
    expect(run).toMatchObject({ status: "succeeded", attempt: 1 });
    const requests = ofRun(id);
    expect(requests[0]).toBe("events");
    expect(requests.at(-1)).toBe("complete");
    // The init event went in that first batch; the answer rode on the completion.
    expect(run.events.map((e: any) => e.type)).toEqual(["init", "text"]);
  });
});
