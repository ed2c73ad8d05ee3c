/**
 * Loops in workerd (docs/loops.md): real D1, the real ChannelSession and Dispatcher, the
 * runner protocol spoken by the test, MCP through the SDK's client. Each iteration is a run:
 * the test claims it, reads the prompt the Worker built, and completes it. The Dispatcher
 * is shared by every test in this file, so each test pins its channel to a label of its own.
 */
import { Client, StreamableHTTPClientTransport, type CallToolResult } from "@modelcontextprotocol/client";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { createScheduledController, env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { Loop, LoopWithIterations, MAX_MEMORY_CHARS, Memory } from "../../protocol/api.ts";
import { Job, MONITOR_TIMEOUT_SEC } from "../../protocol/runner.ts";
import worker from "../../worker/index.ts";
import { ADMIN, BASE, rest } from "./helpers.ts";

let seq = 0;


/** A channel on a label of its own and a runner serving only that label. */
async function setup() {
  const label = `loop${++seq}-${crypto.randomUUID().slice(0, 8)}`;
  const channel = (await rest("POST", "/api/channels", { dir_path: `/home/me/${label}` })).body.id as string;
  await rest("PATCH", `/api/channels/${channel}`, { runner_label: label });
  const runner = (await rest("POST", "/api/runners", { name: label, labels: [label] })).body.token as string;
  const claim = async (wait_ms = 0): Promise<Job | null> => {
    const res = await rest("POST", "/runner/v1/claim", { wait_ms }, runner);
    if (res.status === 204) return null;
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return Job.parse(res.body);
  };
  const complete = (job: Job, extra: object = {}) =>
    rest("POST", `/runner/v1/runs/${job.run_id}/complete`, { lease_id: job.lease_id, status: "succeeded", result_text: "ok", session_id: `sess-${job.run_id}`, exit_code: 0, ...extra }, runner);
  const heartbeat = (job: Job) => rest("POST", `/runner/v1/runs/${job.run_id}/heartbeat`, { lease_id: job.lease_id }, runner);
  const monitor = (job: Job, output: string, exit_code: number | null = 0) =>
    rest("POST", `/runner/v1/runs/${job.run_id}/monitor`, { lease_id: job.lease_id, output, exit_code, duration_ms: 12 }, runner);
  return { channel, runner, claim, complete, heartbeat, monitor };
}

async function start(body: Record<string, unknown>): Promise<Loop> {
  const res = await rest("POST", "/api/loops", body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return Loop.parse(res.body);
}
const getLoop = async (id: number) => LoopWithIterations.parse((await rest("GET", `/api/loops/${id}`)).body);
const memory = async (channel: string) => Memory.parse((await rest("GET", `/api/channels/${channel}/memory`)).body);

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** An MCP connection as the agent in a container has it: its run token. */
async function mcp(token: string): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "loop-test", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args })) as CallToolResult;
}

describe("a loop's iterations", () => {
  it("are runs, queued one after another, each prompt built from memory and the previous answer; loop_done ends it after that iteration", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "Make the build green.", system_prompt: "Be terse.", max_iterations: 10 });
    expect(loop).toMatchObject({ status: "running", iteration: 1, max_iterations: 10, every_ms: 0, fresh_session: true, end_reason: null });

    const job1 = (await t.claim())!;
    expect(job1).toMatchObject({ append_system_prompt: "Be terse.", session_id: null, monitor: null });
    expect(job1.prompt).toMatch(/^<loop iteration="1" max_iterations="10">\nThis is iteration 1 of at most 10 /);
    expect(job1.prompt.endsWith("\n\nMake the build green.")).toBe(true);
    const run1 = (await rest("GET", `/api/runs/${job1.run_id}`)).body;
    expect(run1).toMatchObject({ loop_id: loop.id, iteration: 1, prompt: job1.prompt, trigger: "api" });

    // The agent keeps notes through MCP with its run token: persistent and working memory.
    const agent1 = await mcp(job1.mcp.token);
    expect((await tool(agent1, "memory_append", { kind: "persistent", text: "cache is stale" })).isError).toBeFalsy();
    expect((await tool(agent1, "memory_set", { kind: "working", text: "scratch: step 2" })).isError).toBeFalsy();
    expect(await memory(t.channel)).toMatchObject({ persistent: "cache is stale", working: "scratch: step 2" });
    expect((await t.complete(job1, { result_text: "Iteration one found the stale cache." })).status).toBe(200);

    // Iteration 2 is queued at once (every 0); working memory is gone, persistent memory stays.
    expect(await memory(t.channel)).toMatchObject({ persistent: "cache is stale", working: "" });
    const job2 = (await t.claim())!;
    expect(job2.run_id).not.toBe(job1.run_id);
    expect(job2.session_id).toBeNull(); // fresh_session
    expect(job2.prompt).toContain('<loop iteration="2" max_iterations="10">');
    expect(job2.prompt).toContain("<persistent_memory>\ncache is stale\n</persistent_memory>");
    expect(job2.prompt).toContain('<previous_answer iteration="1">\nIteration one found the stale cache.\n</previous_answer>');
    expect(job2.prompt).not.toContain("working_memory");

    const agent2 = await mcp(job2.mcp.token);
    const done = await tool(agent2, "loop_done", { summary: "Build is green." });
    expect(done.isError, JSON.stringify(done.content)).toBeFalsy();
    expect((await getLoop(loop.id)).status).toBe("running"); // until this iteration ends
    await t.complete(job2, { result_text: "Fixed it." });

    const after = await getLoop(loop.id);
    expect(after).toMatchObject({ status: "done", end_reason: "loop_done", summary: "Build is green.", iteration: 2, next_at: null });
    expect(after.ended_at).not.toBeNull();
    expect(after.iterations.map((i) => [i.iteration, i.run_id, i.status, i.result_text])).toEqual([
      [1, job1.run_id, "succeeded", "Iteration one found the stale cache."],
      [2, job2.run_id, "succeeded", "Fixed it."],
    ]);
    expect(await t.claim()).toBeNull();
    // The channel's own session is left alone by loop iterations.
    expect((await rest("GET", `/api/channels/${t.channel}`)).body.session_id).toBeNull();
  });

  it("ends at max_iterations, or when an answer contains the until text", async () => {
    const t = await setup();
    const capped = await start({ channel_id: t.channel, prompt: "tick", max_iterations: 2 });
    await t.complete((await t.claim())!);
    await t.complete((await t.claim())!);
    expect(await getLoop(capped.id)).toMatchObject({ status: "done", end_reason: "max_iterations", iteration: 2 });
    expect(await t.claim()).toBeNull();

    const until = await start({ channel_id: t.channel, prompt: "check", until: "ALL CLEAR" });
    await t.complete((await t.claim())!, { result_text: "still 2 errors" });
    await t.complete((await t.claim())!, { result_text: "Status: all clear." });
    expect(await getLoop(until.id)).toMatchObject({ status: "done", end_reason: "until", iteration: 2 });
  });

  it("carries the Claude session on when fresh_session is false, without touching the channel's", async () => {
    const t = await setup();
    await start({ channel_id: t.channel, prompt: "go on", fresh_session: false, max_iterations: 2 });
    const job1 = (await t.claim())!;
    expect(job1.session_id).toBeNull();
    await t.complete(job1, { session_id: "sess-loop-a" });
    const job2 = (await t.claim())!;
    expect(job2.session_id).toBe("sess-loop-a");
    await t.complete(job2);
    expect((await rest("GET", `/api/channels/${t.channel}`)).body.session_id).toBeNull();
  });

  it("stop cancels the running iteration and nothing further is queued", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "work forever" });
    const job = (await t.claim())!;
    const stopped = await rest("POST", `/api/loops/${loop.id}/stop`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ outcome: "stopped", loop: { status: "stopped", end_reason: "stopped" } });
    // The runner hears the cancel at its next heartbeat and reports the run cancelled.
    expect((await t.heartbeat(job)).body.cancel).toBe(true);
    await t.complete(job, { status: "cancelled", error: "cancelled" });
    const after = await getLoop(loop.id);
    expect(after.status).toBe("stopped");
    expect(after.iterations.map((i) => i.status)).toEqual(["cancelled"]);
    expect(await t.claim()).toBeNull();
    expect((await rest("POST", `/api/loops/${loop.id}/stop`)).body.outcome).toBe("already_ended");
    // The channel is free for a new loop.
    await start({ channel_id: t.channel, prompt: "again", max_iterations: 1 });
    await t.complete((await t.claim())!);
  });

  it("stop_loop over MCP stops the channel's running loop; a queued iteration is cancelled outright", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "wait" });
    const token = (await rest("POST", "/api/tokens", { name: "loop test", scope: [t.channel] })).body.token as string;
    const result = await tool(await mcp(token), "stop_loop", {});
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    expect(await getLoop(loop.id)).toMatchObject({ status: "stopped", iterations: [expect.objectContaining({ status: "cancelled" })] });
    expect(await t.claim()).toBeNull();
  });

  it("with every, the next iteration is queued by the channel's alarm, its start at least every after the previous start", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "poll", every: "1s", max_iterations: 2 });
    const job1 = (await t.claim())!;
    await t.complete(job1);
    const waiting = await getLoop(loop.id);
    expect(waiting.next_at).not.toBeNull();
    // The alarm queues it; a parked claim gets it the moment it is queued.
    const job2 = (await t.claim(20_000))!;
    expect(job2).not.toBeNull();
    const runs = (await getLoop(loop.id)).iterations;
    expect(Date.parse(runs[1]!.started_at!) - Date.parse(runs[0]!.started_at!)).toBeGreaterThanOrEqual(1_000);
    await t.complete(job2);
  });

  it("the monitor command's output, reported by the runner, is stored with the iteration and goes into its prompt", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "watch the log", monitor_command: "tail -n 3 app.log", monitor_every: "1h", max_iterations: 2 });
    const job1 = (await t.claim())!;
    expect(job1.monitor).toEqual({ command: "tail -n 3 app.log", timeout_sec: MONITOR_TIMEOUT_SEC });
    const reported = await t.monitor(job1, "ERROR disk full\n", 0);
    expect(reported.status).toBe(200);
    expect(reported.body.prompt).toContain('<monitor_output command="tail -n 3 app.log" exit_code="0"');
    expect(reported.body.prompt).toContain("\nERROR disk full\n</monitor_output>");
    expect((await rest("GET", `/api/runs/${job1.run_id}`)).body.prompt).toBe(reported.body.prompt);
    await t.complete(job1, { result_text: "Freed space." });

    // monitor_every 1h: iteration 2 reuses iteration 1's output instead of running it again.
    const job2 = (await t.claim())!;
    expect(job2.monitor).toBeNull();
    expect(job2.prompt).toContain("\nERROR disk full\n</monitor_output>");
    expect(job2.prompt).toContain("Freed space.");
    await t.complete(job2);
    const after = await getLoop(loop.id);
    expect(after.iterations.map((i) => [i.monitor_output, i.monitor_exit_code])).toEqual([
      ["ERROR disk full\n", 0],
      [null, null],
    ]);
  });

  it("a monitor report for a run that is not a loop iteration is refused", async () => {
    const t = await setup();
    await rest("POST", "/api/runs", { channel_id: t.channel, prompt: "plain" });
    const job = (await t.claim())!;
    expect((await t.monitor(job, "x")).status).toBe(409);
    await t.complete(job);
  });
});

describe("the sweep", () => {
  it("moves a running loop whose iteration ended without the channel hearing of it", async () => {
    const t = await setup();
    const loop = await start({ channel_id: t.channel, prompt: "go", max_iterations: 3 });
    const job1 = (await t.claim())!;
    // The run ended two minutes ago, but the "finished" message never reached the channel.
    await env.DB.prepare("UPDATE runs SET status = 'succeeded', result_text = 'lost news', finished_at = ? WHERE id = ?").bind(Date.now() - 120_000, job1.run_id).run();
    expect(await t.claim()).toBeNull();
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
    const job2 = (await t.claim())!;
    expect(job2.prompt).toContain("lost news");
    expect((await getLoop(loop.id)).iteration).toBe(2);
    // A second sweep changes nothing: iteration 2 is queued, not ended.
    await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
    expect((await getLoop(loop.id)).iterations).toHaveLength(2);
    await rest("POST", `/api/loops/${loop.id}/stop`);
  });
});

describe("loop_done", () => {
  it("works only from a loop iteration's run token", async () => {
    const t = await setup();
    await rest("POST", "/api/runs", { channel_id: t.channel, prompt: "plain" });
    const job = (await t.claim())!;
    const plain = await tool(await mcp(job.mcp.token), "loop_done", { summary: "x" });
    expect(plain.isError).toBe(true);
    expect((plain.content[0] as { text: string }).text).toMatch(/not a loop iteration/);
    await t.complete(job);
    const admin = await tool(await mcp(ADMIN), "loop_done", { summary: "x" });
    expect((admin.content[0] as { text: string }).text).toMatch(/only works inside a loop iteration/);
  });
});

describe("bad input", () => {
  it("answers 422 naming the field, and stores nothing", async () => {
    const t = await setup();
    const cases: [Record<string, unknown>, string][] = [
      [{ every: "500ms" }, "every"],
      [{ every: "soon" }, "every"],
      [{ every: "8d" }, "every"],
      [{ monitor_every: "5m" }, "monitor_every"],
      [{ max_iterations: -1 }, "max_iterations"],
      [{ max_iterations: 1_000_001 }, "max_iterations"],
      [{ prompt: "" }, "prompt"],
      [{ fresh_session: "yes" }, "fresh_session"],
      [{ colour: "red" }, "colour"],
    ];
    for (const [patch, field] of cases) {
      const res = await rest("POST", "/api/loops", { channel_id: t.channel, prompt: "p", ...patch });
      expect(res.status, JSON.stringify(patch)).toBe(422);
      expect(res.body.error.field, JSON.stringify(res.body)).toBe(field);
    }
    expect((await rest("GET", `/api/loops?channel_id=${t.channel}`)).body.loops).toEqual([]);
    expect((await rest("GET", `/api/runs?channel_id=${t.channel}`)).body.runs).toEqual([]);
  });

  it("a second loop on a channel is a 409; another channel's loop is a 404 to a scoped token", async () => {
    const t = await setup();
    const first = await start({ channel_id: t.channel, prompt: "one" });
    const second = await rest("POST", "/api/loops", { channel_id: t.channel, prompt: "two" });
    expect(second.status).toBe(409);
    expect(second.body.error.message).toContain(`loop #${first.id}`);
    const other = await setup();
    const token = (await rest("POST", "/api/tokens", { name: "other", scope: [other.channel] })).body.token as string;
    expect((await rest("GET", `/api/loops/${first.id}`, undefined, token)).status).toBe(404);
    expect((await rest("POST", `/api/loops/${first.id}/stop`, undefined, token)).status).toBe(404);
    expect((await rest("GET", "/api/loops", undefined, token)).body.loops).toEqual([]);
    await rest("POST", `/api/loops/${first.id}/stop`);
  });
});

describe("memory", () => {
  it("is read, set, appended and cleared over REST, capped at MAX_MEMORY_CHARS", async () => {
    const t = await setup();
    expect(await memory(t.channel)).toMatchObject({ channel_id: t.channel, persistent: "", working: "", updated_at: null });
    expect((await rest("PUT", `/api/channels/${t.channel}/memory/persistent`, { text: "goal" })).status).toBe(200);
    await rest("POST", `/api/channels/${t.channel}/memory/persistent/append`, { text: "note 1" });
    await rest("POST", `/api/channels/${t.channel}/memory/working/append`, { text: "w" });
    expect(await memory(t.channel)).toMatchObject({ persistent: "goal\nnote 1", working: "w" });

    const full = await rest("POST", `/api/channels/${t.channel}/memory/persistent/append`, { text: "x".repeat(MAX_MEMORY_CHARS - 5) });
    expect(full.status).toBe(422);
    expect(full.body.error).toMatchObject({ code: "memory_full", field: "text" });
    expect((await memory(t.channel)).persistent).toBe("goal\nnote 1");
    expect((await rest("PUT", `/api/channels/${t.channel}/memory/persistent`, { text: "x".repeat(MAX_MEMORY_CHARS + 1) })).body.error.field).toBe("text");
    expect((await rest("PUT", `/api/channels/${t.channel}/memory/episodic`, { text: "x" })).body.error.field).toBe("kind");

    expect((await rest("DELETE", `/api/channels/${t.channel}/memory/persistent`)).body).toMatchObject({ persistent: "", working: "w" });
    const other = await setup();
    const token = (await rest("POST", "/api/tokens", { name: "other", scope: [other.channel] })).body.token as string;
    expect((await rest("GET", `/api/channels/${t.channel}/memory`, undefined, token)).status).toBe(404);
  });
});
