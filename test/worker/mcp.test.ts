/**
 * /mcp in workerd: the SDK's own Client over Streamable HTTP against the real Worker (SELF),
 * real D1 and Durable Objects, in the 2025 era (the v2 Client's default: initialize, then
 * requests without `_meta`; mcp-modern.test.ts covers 2026-07-28). Tools are called as Claude Code would call them; what they
 * did is checked over REST. The Dispatcher is one object shared by every test in this file,
 * so tests that need a run token pin their channel to a label of their own.
 */
import { Client, StreamableHTTPClientTransport, type CallToolResult } from "@modelcontextprotocol/client";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { Channel, CreatedToken, Run, RunEvent, Task, TaskWithPreview } from "../../protocol/api.ts";
import { Job } from "../../protocol/runner.ts";
import { config } from "../../core/env.ts";
import { Budget, UsageReport } from "../../protocol/spend.ts";
import { ADMIN, BASE, insertRun, rest } from "./helpers.ts";

const TOOLS = ["schedule_task", "list_tasks", "show_task", "cancel_task", "toggle_task", "edit_task", "run_task", "list_runs", "get_run", "send_message", "start_loop", "loop_done", "stop_loop", "get_loop", "memory_get", "memory_set", "memory_append", "set_policy", "decide_approval", "get_usage", "get_budget", "set_budget"];

// ---- REST helpers ----------------------------------------------------------------------


let seq = 0;
const unique = (what: string) => `${what}-${++seq}-${crypto.randomUUID().slice(0, 8)}`;

async function newChannel(label?: string): Promise<Channel> {
  const res = await rest("POST", "/api/channels", { dir_path: `/home/me/${unique("mcp")}` });
  expect(res.status).toBe(201);
  if (label) await rest("PATCH", `/api/channels/${res.body.id}`, { runner_label: label });
  return Channel.parse(res.body);
}

async function restTask(channelId: string, prompt = "check the build"): Promise<Task> {
  const res = await rest("POST", "/api/tasks", { channel_id: channelId, type: "interval", schedule: "5m", prompt });
  expect(res.status).toBe(201);
  return Task.parse(res.body);
}

async function channelToken(channelId: string): Promise<string> {
  const res = await rest("POST", "/api/tokens", { name: "mcp test", scope: [channelId] });
  return CreatedToken.parse(res.body).token;
}

/** A channel on a label of its own, a runner with that label, and a run it has claimed. */
async function claimedRun() {
  const label = unique("l");
  const channel = await newChannel(label);
  const runner = (await rest("POST", "/api/runners", { name: `${label}-r`, labels: [label] })).body.token as string;
  const run = (await rest("POST", "/api/runs", { channel_id: channel.id, prompt: "work" })).body;
  const claim = await rest("POST", "/runner/v1/claim", { wait_ms: 0 }, runner);
  expect(claim.status).toBe(200);
  const job = Job.parse(claim.body);
  expect(job.run_id).toBe(run.id);
  const complete = () => rest("POST", `/runner/v1/runs/${job.run_id}/complete`, { lease_id: job.lease_id, status: "succeeded", result_text: "done" }, runner);
  return { channel, runner, job, complete };
}

// ---- MCP helpers -----------------------------------------------------------------------

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

async function connect(token: string | null = ADMIN, headers: Record<string, string> = {}): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => SELF.fetch(url, init),
    requestInit: { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } },
  });
  // The client validates structured output too; give it the eval-free validator the Worker uses.
  const client = new Client({ name: "mcp-test", version: "1.0.0" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  await client.connect(transport);
  clients.push(client);
  return client;
}

async function ok(client: Client, name: string, args: Record<string, unknown> = {}): Promise<CallToolResult> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, `${name}: ${JSON.stringify(result.content)}`).toBeFalsy();
  return result;
}

/** Asserts a tool error (not a protocol failure) and returns its text. */
async function refused(client: Client, name: string, args: Record<string, unknown>, pattern: RegExp): Promise<string> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  expect(result.isError, `${name} should have failed: ${JSON.stringify(result)}`).toBe(true);
  const text = (result.content[0] as { text: string }).text;
  expect(text).toMatch(pattern);
  return text;
}

const NOT_FOUND = /^not_found: .*does not exist/;

// ---- tests -----------------------------------------------------------------------------

describe("tools/list", () => {
  it("offers the original's task tools plus run and message tools, with schemas", async () => {
    const { tools } = await (await connect()).listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName.schedule_task!.inputSchema.required?.sort()).toEqual(["prompt", "type"]);
    expect(Object.keys(byName.schedule_task!.inputSchema.properties!)).toEqual(expect.arrayContaining(["channel_id", "dir_path", "tz"]));
    expect(byName.toggle_task!.inputSchema.required?.sort()).toEqual(["enabled", "task_id"]);
    expect(byName.edit_task!.inputSchema.required).toEqual(["task_id"]);
    expect(byName.send_message!.inputSchema.required).toEqual(["content"]);
    for (const name of ["list_tasks", "show_task", "list_runs", "get_run"]) {
      expect(byName[name]!.outputSchema, name).toBeDefined();
      expect(byName[name]!.annotations?.readOnlyHint, name).toBe(true);
    }
    expect(byName.cancel_task!.annotations?.destructiveHint).toBe(true);
  });
});

/**
 * A bot token for one test. The Worker reads it from env or from the Config it parsed once
 * per env object (core/env.ts), so both are set, and both undone afterwards.
 */
function withBotToken(token: string): () => void {
  const bindings = env as { DISCORD_BOT_TOKEN?: string };
  const cfg = config(env) as Record<string, unknown>;
  bindings.DISCORD_BOT_TOKEN = token;
  cfg.discordBotToken = token;
  return () => {
    delete bindings.DISCORD_BOT_TOKEN;
    delete cfg.discordBotToken;
  };
}

describe("every tool, with an admin token naming the channel", () => {
  let undo = () => {};
  afterEach(() => {
    vi.restoreAllMocks();
    undo();
  });

  it("schedules, lists, shows, edits, toggles and cancels a task", async () => {
    const client = await connect();
    const channel = await newChannel();

    const scheduled = await ok(client, "schedule_task", { channel_id: channel.id, schedule: "0 9 * * 1-5", type: "cron", tz: "Europe/Berlin", prompt: "summarise yesterday" });
    const task = TaskWithPreview.parse(scheduled.structuredContent);
    expect(task).toMatchObject({ channel_id: channel.id, schedule: "0 9 * * 1-5", type: "cron", tz: "Europe/Berlin", enabled: true });
    expect(task.preview).toHaveLength(3);
    expect((scheduled.content[0] as { text: string }).text).toContain(`ID: ${task.id}`);
    expect((await rest("GET", `/api/tasks/${task.id}`)).body.prompt).toBe("summarise yesterday");

    const listed = await ok(client, "list_tasks", { channel_id: channel.id });
    const { tasks } = z.object({ tasks: z.array(Task) }).parse(listed.structuredContent);
    expect(tasks.map((t) => t.id)).toEqual([task.id]);
    expect((listed.content[0] as { text: string }).text).toContain(`#${task.id} enabled cron`);

    const shown = TaskWithPreview.parse((await ok(client, "show_task", { task_id: task.id })).structuredContent);
    expect(shown).toMatchObject({ id: task.id, prompt: "summarise yesterday" });

    const edited = TaskWithPreview.parse((await ok(client, "edit_task", { task_id: task.id, type: "interval", schedule: "2h", prompt: "new prompt" })).structuredContent);
    expect(edited).toMatchObject({ type: "interval", schedule: "2h", tz: null, prompt: "new prompt" });

    const off = TaskWithPreview.parse((await ok(client, "toggle_task", { task_id: task.id, enabled: false })).structuredContent);
    expect(off).toMatchObject({ enabled: false, next_run_at: null });
    expect((await rest("GET", `/api/tasks/${task.id}`)).body.enabled).toBe(false);
    const on = TaskWithPreview.parse((await ok(client, "toggle_task", { task_id: task.id, enabled: true })).structuredContent);
    expect(on.next_run_at).not.toBeNull();

    const cancelled = await ok(client, "cancel_task", { task_id: task.id });
    expect((cancelled.content[0] as { text: string }).text).toBe(`Task ${task.id} cancelled.`);
    expect((await rest("GET", `/api/tasks/${task.id}`)).status).toBe(404);
  });

  it("runs a task now, runs a prompt now, lists runs and gets one with its events", async () => {
    const client = await connect();
    // A label no runner has: the runs stay queued, which is all these tools need.
    const channel = await newChannel(unique("idle"));
    const task = await restTask(channel.id, "nightly report");

    const fromTask = Run.parse((await ok(client, "run_task", { task_id: task.id })).structuredContent);
    expect(fromTask).toMatchObject({ channel_id: channel.id, task_id: task.id, trigger: "mcp", status: "queued", prompt: "nightly report" });
    // The schedule is left alone.
    expect((await rest("GET", `/api/tasks/${task.id}`)).body.next_run_at).toBe(task.next_run_at);

    const adHoc = Run.parse((await ok(client, "run_task", { channel_id: channel.id, prompt: "what changed?" })).structuredContent);
    expect(adHoc).toMatchObject({ channel_id: channel.id, task_id: null, trigger: "mcp", prompt: "what changed?" });
    expect((await rest("GET", `/api/runs/${adHoc.id}`)).body.trigger).toBe("mcp");

    const { runs } = z.object({ runs: z.array(Run) }).parse((await ok(client, "list_runs", { channel_id: channel.id })).structuredContent);
    expect(runs.map((r) => r.id)).toEqual([adHoc.id, fromTask.id]);
    const ofTask = z.object({ runs: z.array(Run) }).parse((await ok(client, "list_runs", { channel_id: channel.id, task_id: task.id })).structuredContent);
    expect(ofTask.runs.map((r) => r.id)).toEqual([fromTask.id]);
    const page = z.object({ runs: z.array(Run) }).parse((await ok(client, "list_runs", { channel_id: channel.id, limit: 1, before: adHoc.id })).structuredContent);
    expect(page.runs.map((r) => r.id)).toEqual([fromTask.id]);

    const got = Run.parse((await ok(client, "get_run", { run_id: adHoc.id })).structuredContent);
    expect(got).toMatchObject({ id: adHoc.id, status: "queued" });
    expect(got).not.toHaveProperty("events");
    await env.DB.prepare("INSERT INTO run_events (run_id, seq, type, payload, at) VALUES (?1, 1, 'text', '{\"type\":\"text\",\"text\":\"a\"}', 1), (?1, 2, 'text', '{\"type\":\"text\",\"text\":\"b\"}', 2)").bind(adHoc.id).run();
    const withEvents = Run.extend({ events: z.array(RunEvent) }).parse((await ok(client, "get_run", { run_id: adHoc.id, events: 1 })).structuredContent);
    expect(withEvents.events).toEqual([expect.objectContaining({ seq: 2, payload: { type: "text", text: "b" } })]);
  });

  it("list_tasks trims long prompts; show_task has them in full", async () => {
    const client = await connect();
    const channel = await newChannel();
    const task = await restTask(channel.id, "y".repeat(1000));
    const { tasks } = z.object({ tasks: z.array(Task) }).parse((await ok(client, "list_tasks", { channel_id: channel.id })).structuredContent);
    expect(tasks[0]!.prompt).toBe(`${"y".repeat(300)}…`);
    expect(TaskWithPreview.parse((await ok(client, "show_task", { task_id: task.id })).structuredContent).prompt).toHaveLength(1000);
  });

  it("list_runs trims long results; get_run has them in full", async () => {
    const client = await connect();
    const channel = await newChannel(unique("idle"));
    const run = (await rest("POST", "/api/runs", { channel_id: channel.id, prompt: "long" })).body;
    await env.DB.prepare("UPDATE runs SET status = 'succeeded', result_text = ?1 WHERE id = ?2").bind("x".repeat(2000), run.id).run();
    const { runs } = z.object({ runs: z.array(Run) }).parse((await ok(client, "list_runs", { channel_id: channel.id })).structuredContent);
    expect(runs[0]!.result_text).toHaveLength(501);
    expect(Run.parse((await ok(client, "get_run", { run_id: run.id })).structuredContent).result_text).toHaveLength(2000);
  });

  it("send_message posts into the channel's Discord channel", async () => {
    undo = withBotToken("bot-token");
    const discord = vi.spyOn(globalThis, "fetch").mockImplementation(async () => Response.json({ id: "998877" }));
    const discordId = String(100_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e12)));
    const id = unique("ch_discord");
    await env.DB.prepare("INSERT INTO channels (id, discord_channel_id, name) VALUES (?, ?, 'general')").bind(id, discordId).run();

    const client = await connect();
    const sent = await ok(client, "send_message", { channel_id: id, content: "build is green @everyone" });
    expect(sent.structuredContent).toEqual({ message_id: "998877" });
    expect(discord).toHaveBeenCalledTimes(1);
    const [url, init] = discord.mock.calls[0]!;
    expect(String(url)).toBe(`${env.DISCORD_API_BASE}/channels/${discordId}/messages`);
    expect(new Headers(init!.headers).get("authorization")).toBe("Bot bot-token");
    expect(JSON.parse(init!.body as string)).toMatchObject({ content: "build is green @everyone", allowed_mentions: { parse: [] } });
  });

  it("send_message to a channel without Discord is a tool error", async () => {
    const client = await connect();
    const channel = await newChannel();
    await refused(client, "send_message", { channel_id: channel.id, content: "hi" }, /^no_discord_channel: .*has no Discord channel/);
  });

  it("dir_path resolves to the channel bound to that directory, trailing slash or not", async () => {
    const client = await connect();
    const channel = await newChannel();
    const task = TaskWithPreview.parse((await ok(client, "schedule_task", { dir_path: `${channel.dir_path}/`, schedule: "1h", type: "interval", prompt: "p" })).structuredContent);
    expect(task.channel_id).toBe(channel.id);
    const { tasks } = z.object({ tasks: z.array(Task) }).parse((await ok(client, "list_tasks", { dir_path: channel.dir_path })).structuredContent);
    expect(tasks.map((t) => t.id)).toEqual([task.id]);
    await refused(client, "list_tasks", { dir_path: "/nowhere/at/all" }, /^not_found: channel for dir_path \/nowhere\/at\/all does not exist/);
    await refused(client, "list_tasks", { dir_path: channel.dir_path, channel_id: channel.id }, /not both/);
  });

  it("the Loop-Channel header gives an admin connection a default channel", async () => {
    const channel = await newChannel();
    const client = await connect(ADMIN, { "loop-channel": channel.id });
    const task = TaskWithPreview.parse((await ok(client, "schedule_task", { schedule: "1h", type: "interval", prompt: "p" })).structuredContent);
    expect(task.channel_id).toBe(channel.id);
  });
});

describe("scoping", () => {
  it("an admin token without channel_id or dir_path gets a tool error naming the argument", async () => {
    const client = await connect();
    for (const [name, args] of [
      ["schedule_task", { schedule: "5m", type: "interval", prompt: "p" }],
      ["list_tasks", {}],
      ["list_runs", {}],
      ["run_task", { prompt: "p" }],
      ["send_message", { content: "hi" }],
    ] as const) {
      await refused(client, name, args, /^invalid_request: channel_id is required.*channel_id or dir_path/);
    }
  });

  it("a channel token works on its channel without naming it, and cannot see or touch another's", async () => {
    const mine = await newChannel(unique("idle"));
    const theirs = await newChannel(unique("idle"));
    const theirTask = await restTask(theirs.id, "secret");
    const theirRun = (await rest("POST", "/api/runs", { channel_id: theirs.id, prompt: "secret run" })).body;
    const client = await connect(await channelToken(mine.id));

    const task = TaskWithPreview.parse((await ok(client, "schedule_task", { schedule: "10m", type: "interval", prompt: "mine" })).structuredContent);
    expect(task.channel_id).toBe(mine.id);
    const { tasks } = z.object({ tasks: z.array(Task) }).parse((await ok(client, "list_tasks")).structuredContent);
    expect(tasks.map((t) => t.id)).toEqual([task.id]);

    await refused(client, "list_tasks", { channel_id: theirs.id }, NOT_FOUND);
    await refused(client, "list_tasks", { dir_path: theirs.dir_path! }, NOT_FOUND);
    await refused(client, "schedule_task", { channel_id: theirs.id, schedule: "5m", type: "interval", prompt: "p" }, NOT_FOUND);
    await refused(client, "show_task", { task_id: theirTask.id }, NOT_FOUND);
    await refused(client, "cancel_task", { task_id: theirTask.id }, NOT_FOUND);
    await refused(client, "toggle_task", { task_id: theirTask.id, enabled: false }, NOT_FOUND);
    await refused(client, "edit_task", { task_id: theirTask.id, prompt: "hijacked" }, NOT_FOUND);
    await refused(client, "run_task", { task_id: theirTask.id }, NOT_FOUND);
    await refused(client, "run_task", { channel_id: theirs.id, prompt: "p" }, NOT_FOUND);
    await refused(client, "list_runs", { channel_id: theirs.id }, NOT_FOUND);
    await refused(client, "get_run", { run_id: theirRun.id }, NOT_FOUND);
    await refused(client, "send_message", { channel_id: theirs.id, content: "hi" }, NOT_FOUND);

    // Nothing of theirs changed.
    expect((await rest("GET", `/api/tasks/${theirTask.id}`)).body).toMatchObject({ prompt: "secret", enabled: true });
    expect((await rest("GET", `/api/runs?channel_id=${theirs.id}`)).body.runs).toHaveLength(1);
  });

  it("a run token acts on its own run's channel without channel_id, until the run ends", async () => {
    const { channel, job, complete } = await claimedRun();
    const other = await newChannel();
    const otherTask = await restTask(other.id);
    expect(job.mcp.token).toMatch(/^loop_run_/);
    const client = await connect(job.mcp.token);

    const task = TaskWithPreview.parse((await ok(client, "schedule_task", { schedule: "in 10m", type: "once", prompt: "follow up" })).structuredContent);
    expect(task.channel_id).toBe(channel.id);
    expect((await rest("GET", `/api/tasks?channel_id=${channel.id}`)).body.tasks.map((t: Task) => t.id)).toEqual([task.id]);
    const { runs } = z.object({ runs: z.array(Run) }).parse((await ok(client, "list_runs")).structuredContent);
    expect(runs.map((r) => r.id)).toEqual([job.run_id]);
    expect(Run.parse((await ok(client, "get_run", { run_id: job.run_id })).structuredContent).status).toBe("running");
    const followUp = Run.parse((await ok(client, "run_task", { prompt: "next step" })).structuredContent);
    expect(followUp).toMatchObject({ channel_id: channel.id, trigger: "mcp", status: "queued" });

    await refused(client, "list_tasks", { channel_id: other.id }, NOT_FOUND);
    await refused(client, "show_task", { task_id: otherTask.id }, NOT_FOUND);
    await refused(client, "cancel_task", { task_id: otherTask.id }, NOT_FOUND);

    await complete();
    // The token died with the run: the next request is refused at the door.
    await expect(client.callTool({ name: "list_tasks", arguments: {} })).rejects.toMatchObject({ data: { status: 401 } });
  });
});

describe("the tool table is built once per isolate; each request keeps its own scope (issue 19)", () => {
  /** One stateless JSON-RPC tools/call, as a bare POST. */
  async function callRaw(token: string, name: string, args: object, headers: Record<string, string> = {}) {
    const res = await SELF.fetch(`${BASE}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name, arguments: args } }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { result: CallToolResult }).result;
  }

  it("interleaved requests with different channel tokens each list only their own channel's tasks", async () => {
    const a = await newChannel();
    const b = await newChannel();
    const taskA = await restTask(a.id, "only in a");
    const taskB = await restTask(b.id, "only in b");
    const [tokenA, tokenB] = [await channelToken(a.id), await channelToken(b.id)];
    // tools/list first, so the calls below run after the cached table and its JSON exist.
    expect((await (await connect()).listTools()).tools.map((t) => t.name)).toEqual(TOOLS);

    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? callRaw(tokenB, "list_tasks", {}) : callRaw(tokenA, "list_tasks", {}))));
    results.forEach((r, i) => {
      const { tasks } = z.object({ tasks: z.array(Task) }).parse(r.structuredContent);
      expect(tasks.map((t) => t.id)).toEqual([i % 2 ? taskB.id : taskA.id]);
    });
    // And neither token reaches the other's channel by naming it, right after the other used it.
    for (const [token, other] of [[tokenA, b], [tokenB, a]] as const) {
      const r = await callRaw(token, "list_tasks", { channel_id: other.id });
      expect(r.isError).toBe(true);
      expect((r.content[0] as { text: string }).text).toMatch(NOT_FOUND);
    }
  });

  it("a Loop-Channel header is the default of its own request only", async () => {
    const channel = await newChannel();
    const task = await restTask(channel.id);
    const withHeader = await callRaw(ADMIN, "list_tasks", {}, { "loop-channel": channel.id });
    expect(z.object({ tasks: z.array(Task) }).parse(withHeader.structuredContent).tasks.map((t) => t.id)).toEqual([task.id]);
    const without = await callRaw(ADMIN, "list_tasks", {});
    expect(without.isError).toBe(true);
    expect((without.content[0] as { text: string }).text).toMatch(/^invalid_request: channel_id is required/);
  });
});

describe("bad arguments are tool errors with a clear message", () => {
  it("wrong types and missing arguments", async () => {
    const client = await connect();
    const channel = await newChannel();
    await refused(client, "schedule_task", { channel_id: channel.id, schedule: 5, type: "interval", prompt: "p" }, /expected string, received number at schedule/);
    await refused(client, "schedule_task", { channel_id: channel.id, schedule: "5m", type: "weekly", prompt: "p" }, /expected one of "cron"\|"interval"\|"once"\|"manual" at type/);
    await refused(client, "schedule_task", { channel_id: channel.id, schedule: "5m", type: "interval" }, /at prompt/);
    await refused(client, "schedule_task", { channel_id: channel.id, schedule: "5m", type: "interval", prompt: "   " }, /prompt is empty at prompt/);
    await refused(client, "show_task", { task_id: "12" }, /expected number, received string at task_id/);
    await refused(client, "show_task", { task_id: 1.5 }, /task_id/);
    await refused(client, "toggle_task", { task_id: 1 }, /expected boolean, received undefined at enabled/);
    await refused(client, "list_tasks", { dir_path: "relative/dir" }, /dir_path must be an absolute path at dir_path/);
    await refused(client, "send_message", { channel_id: channel.id, content: "x".repeat(2001) }, /longer than Discord's 2000-character limit/);
    expect((await rest("GET", `/api/tasks?channel_id=${channel.id}`)).body.tasks).toEqual([]);
  });

  it("bad schedules name the problem and give an example", async () => {
    const client = await connect();
    const channel = await newChannel();
    const base = { channel_id: channel.id, prompt: "p" };
    await refused(client, "schedule_task", { ...base, type: "cron", schedule: "61 * * * *" }, /^invalid_schedule: "61 \* \* \* \*" is not a valid cron expression.*Example: "0 9 \* \* 1-5"/);
    await refused(client, "schedule_task", { ...base, type: "cron", schedule: "* * * *" }, /cron needs 5 fields/);
    await refused(client, "schedule_task", { ...base, type: "cron", schedule: "0 9 * * *", tz: "Mars/Olympus" }, /"Mars\/Olympus" is not an IANA time zone/);
    await refused(client, "schedule_task", { ...base, type: "interval", schedule: "10s" }, /shorter than the minimum of 1m/);
    await refused(client, "schedule_task", { ...base, type: "once", schedule: "2001-01-01T00:00:00Z" }, /is in the past/);
    await refused(client, "schedule_task", { ...base, type: "interval", schedule: "5m", tz: "UTC" }, /tz applies only to cron tasks/);
    expect((await rest("GET", `/api/tasks?channel_id=${channel.id}`)).body.tasks).toEqual([]);
  });

  it("unknown ids are not found", async () => {
    const client = await connect();
    for (const [name, args] of [
      ["show_task", { task_id: 987654 }],
      ["cancel_task", { task_id: 987654 }],
      ["toggle_task", { task_id: 987654, enabled: true }],
      ["edit_task", { task_id: 987654, prompt: "x" }],
      ["run_task", { task_id: 987654 }],
    ] as const) {
      await refused(client, name, args, /^not_found: task 987654 does not exist/);
    }
    await refused(client, "get_run", { run_id: 987654 }, /^not_found: run 987654 does not exist/);
    await refused(client, "list_tasks", { channel_id: "ch_nope" }, /^not_found: channel ch_nope does not exist/);
  });

  it("edit_task and run_task refuse ambiguous or empty requests", async () => {
    const client = await connect();
    const channel = await newChannel(unique("idle"));
    const task = await restTask(channel.id);
    await refused(client, "edit_task", { task_id: task.id }, /nothing to change: give schedule, type, prompt, tz, auto_delete_sec, worktree, origin_branch or update_before_run/);
    await refused(client, "edit_task", { task_id: task.id, type: "cron" }, /changing type to cron needs a new schedule too/);
    await refused(client, "run_task", {}, /give task_id .* or prompt/);
    await refused(client, "run_task", { task_id: task.id, prompt: "p" }, /not both/);
    await refused(client, "run_task", { task_id: task.id, channel_id: channel.id }, /do not apply with task_id/);
    expect((await rest("GET", `/api/runs?channel_id=${channel.id}`)).body.runs).toEqual([]);
  });
});

describe("HTTP", () => {
  const post = (headers: Record<string, string>) =>
    SELF.fetch(`${BASE}/mcp`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
    });

  it("refuses a missing, malformed or wrong token with 401 and WWW-Authenticate", async () => {
    for (const headers of [{}, { authorization: "Basic abc" }, { authorization: "Bearer loop_api_nope" }] as Record<string, string>[]) {
      const res = await post(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="loop"/);
      expect((await res.json()) as object).toMatchObject({ error: { code: "unauthorized" } });
    }
    await expect(connect(null)).rejects.toMatchObject({ data: { status: 401 } });
  });

  it("refuses runner tokens", async () => {
    const runner = (await rest("POST", "/api/runners", { name: unique("rnr") })).body.token;
    const res = await post({ authorization: `Bearer ${runner}` });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Runner tokens only work on \/runner\/v1/);
  });

  it("answers GET, DELETE and other methods with 405", async () => {
    for (const method of ["GET", "DELETE", "PUT"]) {
      const res = await SELF.fetch(`${BASE}/mcp`, { method, headers: { authorization: `Bearer ${ADMIN}`, accept: "text/event-stream" } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get("allow")).toBe("POST");
      expect((await res.json()) as object).toMatchObject({ jsonrpc: "2.0", error: { code: -32000 } });
    }
  });

  it("is stateless: a tools/call without initialize works, and no session id is issued", async () => {
    const channel = await newChannel();
    const res = await SELF.fetch(`${BASE}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "list_tasks", arguments: { channel_id: channel.id } } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("mcp-session-id")).toBeNull();
    expect((await res.json()) as object).toMatchObject({ jsonrpc: "2.0", id: 7, result: { structuredContent: { tasks: [] } } });
  });
});

describe("approval tools (issue 13)", () => {
  it("set_policy replaces the channel's policy; decide_approval resumes a waiting run; the run's own token may do neither", async () => {
    const { channel, runner, job } = await claimedRun();
    const admin = await connect();
    const set = await ok(admin, "set_policy", { channel_id: channel.id, mode: "ask", allow: ["Read"] });
    expect(set.structuredContent).toMatchObject({ mode: "ask", allow: ["Read"], deny: [], approval_timeout: "24h" });
    await refused(admin, "set_policy", { channel_id: channel.id, mode: "maybe" }, /mode/);

    // The agent, with its run token, can neither lift its own limits nor approve itself.
    const agent = await connect(job.mcp.token);
    await refused(agent, "set_policy", { mode: "auto" }, /^forbidden: .*run token/);

    const parked = await rest("POST", `/runner/v1/runs/${job.run_id}/complete`, {
      lease_id: job.lease_id, status: "deferred", session_id: "s", deferred_tool_use: { id: "toolu_1", name: "Bash", input: { command: "make deploy" } },
    }, runner);
    expect(parked.status).toBe(200);
    const waiting = await ok(admin, "get_run", { run_id: job.run_id });
    expect(waiting.structuredContent).toMatchObject({ status: "waiting_approval", pending_approval: { deferral: 1, tool_name: "Bash" } });

    const decided = await ok(admin, "decide_approval", { run_id: job.run_id, decision: "always_allow" });
    expect(decided.structuredContent).toMatchObject({ duplicate: false, run: { status: "queued" } });
    expect((await rest("GET", `/api/channels/${channel.id}/policy`)).body.allow).toEqual(["Read", "Bash(make deploy)"]);
    await refused(admin, "decide_approval", { run_id: job.run_id, decision: "deny" }, /^conflict|not_waiting/);
  });
});

describe("spend tools (issue 14)", () => {
  it("get_usage answers what GET /api/usage answers, for the named channel, the connection's channel or every visible one", async () => {
    const a = await newChannel();
    const b = await newChannel();
    const task = await restTask(a.id);
    // A past month no other test writes to.
    const at = Date.UTC(2002, 4, 10, 12);
    await insertRun({ channelId: a.id, taskId: task.id, status: "succeeded", model: "opus", costUsd: 0.5, inputTokens: 100, outputTokens: 10, finishedAt: at });
    await insertRun({ channelId: a.id, status: "failed", model: "haiku", costUsd: 0.25, inputTokens: 40, outputTokens: 4, finishedAt: at + 1000 });
    await insertRun({ channelId: a.id, taskId: task.id, status: "skipped_budget", error: "over budget", finishedAt: at + 2000 });
    await insertRun({ channelId: b.id, status: "succeeded", model: "opus", costUsd: 2, finishedAt: at + 3000 });
    const period = { from: "2002-05-01", to: "2002-06-01" };

    const admin = await connect();
    const byModel = UsageReport.parse((await ok(admin, "get_usage", { channel_id: a.id, ...period, group_by: "model" })).structuredContent);
    expect(byModel.total).toEqual({ runs: 2, skipped_budget: 1, input_tokens: 140, output_tokens: 14, cache_read_tokens: 0, cache_write_tokens: 0, cost_usd: 0.75 });
    expect(byModel.groups.map((g) => [g.key, g.runs, g.cost_usd])).toEqual([["opus", 1, 0.5], ["haiku", 1, 0.25], [null, 0, 0]]);
    // The same function as REST: the same answer, field for field.
    expect((await rest("GET", `/api/usage?channel_id=${a.id}&from=2002-05-01&to=2002-06-01&group_by=model`)).body).toEqual(byModel);

    const byTask = await ok(admin, "get_usage", { task_id: task.id, ...period });
    expect(UsageReport.parse(byTask.structuredContent).total).toMatchObject({ runs: 1, skipped_budget: 1, cost_usd: 0.5 });
    expect((byTask.content[0] as { text: string }).text).toMatch(/^Usage 2002-05-01T00:00:00\.000Z → 2002-06-01T00:00:00\.000Z: \$0\.5000 over 1 run \(\+1 skipped over budget\)/);

    // No channel named: the connection's channel (Loop-Channel), else every channel the token sees.
    const viaHeader = await connect(ADMIN, { "Loop-Channel": b.id });
    expect(UsageReport.parse((await ok(viaHeader, "get_usage", period)).structuredContent).total.cost_usd).toBe(2);
    const all = UsageReport.parse((await ok(admin, "get_usage", { ...period, group_by: "channel" })).structuredContent);
    expect(all.groups.filter((g) => g.key === a.id || g.key === b.id).map((g) => [g.key, g.cost_usd])).toEqual([[b.id, 2], [a.id, 0.75]]);
    const scoped = await connect(await channelToken(a.id));
    const mine = UsageReport.parse((await ok(scoped, "get_usage", { ...period, group_by: "channel" })).structuredContent);
    expect(mine.groups.map((g) => g.key)).toEqual([a.id]);
    await refused(scoped, "get_usage", { channel_id: b.id, ...period }, NOT_FOUND);

    await refused(admin, "get_usage", { from: "2002-06-01", to: "2002-05-01" }, /^invalid_request: from: must be before to/);
    await refused(admin, "get_usage", { tz: "Mars/Olympus" }, /tz: "Mars\/Olympus" is not an IANA time zone/);
    await refused(admin, "get_usage", { group_by: "week" }, /group_by/);
  });

  it("set_budget and get_budget: a channel's caps (null removes one), the global caps for admins only, never by a run's own token", async () => {
    const { channel, job, complete } = await claimedRun();
    const owner = await connect(await channelToken(channel.id));
    const set = Budget.parse((await ok(owner, "set_budget", { daily_usd: 5, monthly_usd: 50 })).structuredContent);
    expect(set).toMatchObject({ scope: channel.id, daily_usd: 5, monthly_usd: 50, daily: { cap_usd: 5, spent_usd: 0 } });
    // A cap left out keeps its value; null removes one.
    expect(Budget.parse((await ok(owner, "set_budget", { monthly_usd: null })).structuredContent)).toMatchObject({ daily_usd: 5, monthly_usd: null, monthly: null });
    expect((await rest("GET", `/api/channels/${channel.id}/budget`)).body).toMatchObject({ daily_usd: 5, monthly_usd: null });

    // Bad caps are tool errors naming the field, and change nothing.
    await refused(owner, "set_budget", { daily_usd: -1 }, /daily_usd/);
    await refused(owner, "set_budget", { monthly_usd: 1e6 + 1 }, /monthly_usd/);
    await refused(owner, "set_budget", {}, /nothing to change/);
    expect((await rest("GET", `/api/channels/${channel.id}/budget`)).body).toMatchObject({ daily_usd: 5, monthly_usd: null });

    // The global caps are an admin's.
    await refused(owner, "get_budget", { global: true }, /^forbidden: /);
    await refused(owner, "set_budget", { global: true, daily_usd: 1 }, /^forbidden: /);
    const admin = await connect();
    try {
      expect(Budget.parse((await ok(admin, "set_budget", { global: true, monthly_usd: 900 })).structuredContent)).toMatchObject({ scope: "global", monthly_usd: 900 });
      expect((await ok(admin, "get_budget", { global: true })).structuredContent).toMatchObject({ scope: "global", daily_usd: null, monthly_usd: 900 });
      await refused(admin, "get_budget", { global: true, channel_id: channel.id }, /global/);
    } finally {
      await rest("PUT", "/api/budget", { monthly_usd: null });
    }

    // The agent may read its channel's budget, never raise it.
    const agent = await connect(job.mcp.token);
    expect((await ok(agent, "get_budget")).structuredContent).toMatchObject({ scope: channel.id, daily_usd: 5 });
    await refused(agent, "set_budget", { daily_usd: 500 }, /^forbidden: .*run token/);
    expect((await rest("GET", `/api/channels/${channel.id}/budget`)).body).toMatchObject({ daily_usd: 5 });
    await complete();
  });
});
