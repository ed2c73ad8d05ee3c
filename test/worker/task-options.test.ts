/**
 * The original Loop's task options over REST, MCP and the runner protocol: manual tasks,
 * worktree tasks (origin_branch, update_before_run) and auto_delete_sec; and how a runner
 * learns that a deleted task's worktree can go.
 */
import { Client, StreamableHTTPClientTransport, type CallToolResult } from "@modelcontextprotocol/client";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/client/validators/cf-worker";
import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { Run, Template } from "../../protocol/api.ts";
import { Job, WORKTREE_REMOVALS_HEADER, WorktreeRemovals, WorktreesRemovedResponse } from "../../protocol/runner.ts";
import { call, callOk, createChannel, createTask, expectError, getTask, insertDiscordChannel, snapshotStore, taskRow, TaskWithPreview } from "./helpers.ts";

let seq = 0;
const unique = (what: string) => `${what}-${++seq}-${crypto.randomUUID().slice(0, 8)}`;

/** A channel pinned to a label of its own and a runner holding it (the Dispatcher is shared). */
async function labelled() {
  const label = unique("opt");
  const channel = await createChannel();
  await call(`/api/channels/${channel.id}`, { method: "PATCH", body: { runner_label: label } });
  const runner = async (name = "r") => (await (await call("/api/runners", { body: { name: `${label}-${name}`, labels: [label] } })).json<any>()).token as string;
  return { channel, runner };
}

async function claim(token: string): Promise<Job | null> {
  const res = await call("/runner/v1/claim", { body: { wait_ms: 0 }, token });
  if (res.status === 204) return null;
  expect(res.status).toBe(200);
  return Job.parse(await res.json());
}

const complete = (token: string, job: Job) =>
  call(`/runner/v1/runs/${job.run_id}/complete`, { body: { lease_id: job.lease_id, status: "succeeded", result_text: "ok" }, token });

describe("manual tasks", () => {
  it("have no schedule, never fire by themselves, and run on demand with their own task_id", async () => {
    const { channel, runner } = await labelled();
    const token = await runner();
    const task = await createTask(channel.id, { type: "manual", schedule: "", prompt: "release notes" });
    expect(task).toMatchObject({ type: "manual", schedule: "", next_run_at: null, preview: [], enabled: true });

    // The channel's alarm finds nothing due; nothing is queued.
    await runDurableObjectAlarm(env.CHANNEL_SESSION.getByName(channel.id));
    expect(await claim(token)).toBeNull();

    const run = await callOk(Run, `/api/tasks/${task.id}/run`, { method: "POST" }, 201);
    expect(run).toMatchObject({ task_id: task.id, trigger: "api", prompt: "release notes", scheduled_for: null });
    const job = (await claim(token))!;
    expect(job).toMatchObject({ run_id: run.id, worktree: null });
    await complete(token, job);
  });

  it("drops a schedule given with type manual, and a task can become manual without one", async () => {
    const channel = await createChannel();
    expect((await createTask(channel.id, { type: "manual", schedule: "5m" })).schedule).toBe("");
    const cron = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *" });
    const manual = await callOk(TaskWithPreview, `/api/tasks/${cron.id}`, { method: "PATCH", body: { type: "manual" } });
    expect(manual).toMatchObject({ type: "manual", schedule: "", next_run_at: null });
    await expectError(await call("/api/tasks", { body: { channel_id: channel.id, type: "manual", prompt: "x", tz: "Europe/Berlin" } }), 422, { field: "tz" });
  });
});

describe("task options", () => {
  it("stores worktree, origin_branch, update_before_run and auto_delete_sec, and changes them", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { worktree: true, origin_branch: "release/1.2", update_before_run: true, auto_delete_sec: 60 });
    expect(task).toMatchObject({ worktree: true, origin_branch: "release/1.2", update_before_run: true, auto_delete_sec: 60 });
    expect(await taskRow(task.id)).toMatchObject({ worktree: true, originBranch: "release/1.2", updateBeforeRun: true, autoDeleteSec: 60 });

    const edited = await callOk(TaskWithPreview, `/api/tasks/${task.id}`, { method: "PATCH", body: { origin_branch: null, auto_delete_sec: 0 } });
    expect(edited).toMatchObject({ worktree: true, origin_branch: null, update_before_run: true, auto_delete_sec: 0 });
    // Turning the worktree off drops its branch options with it.
    const plain = await callOk(TaskWithPreview, `/api/tasks/${task.id}`, { method: "PATCH", body: { worktree: false } });
    expect(plain).toMatchObject({ worktree: false, origin_branch: null, update_before_run: false });
  });

  it("refuses bad options with a 422 naming the field, and stores nothing", async () => {
    const channel = await createChannel();
    const discord = await insertDiscordChannel();
    const before = await snapshotStore();
    const bad = async (body: object, field: string) =>
      expectError(await call("/api/tasks", { body: { channel_id: channel.id, type: "interval", schedule: "5m", prompt: "x", ...body } }), 422, { field });
    await bad({ origin_branch: "main" }, "origin_branch");
    await bad({ update_before_run: true }, "update_before_run");
    await bad({ worktree: true, origin_branch: "a..b" }, "origin_branch");
    await bad({ worktree: true, origin_branch: "-rf" }, "origin_branch");
    await bad({ auto_delete_sec: -1 }, "auto_delete_sec");
    await bad({ auto_delete_sec: 1.5 }, "auto_delete_sec");
    await bad({ worktree: "yes" }, "worktree");
    const noDir = await call("/api/tasks", { body: { channel_id: discord.id, type: "interval", schedule: "5m", prompt: "x", worktree: true } });
    expect((await expectError(noDir, 422, { field: "worktree" })).message).toMatch(/project directory/);
    expect(await snapshotStore()).toEqual(before);
  });

  it("a template carries auto_delete_sec into the task it makes", async () => {
    const channel = await createChannel();
    const name = unique("tmpl").toLowerCase();
    await callOk(Template, `/api/templates/${name}`, { method: "PUT", body: { schedule: "", type: "manual", prompt: "triage", auto_delete_sec: 120 } }, 201);
    const res = await call(`/api/channels/${channel.id}/templates`, { body: { name } });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ type: "manual", auto_delete_sec: 120, template_name: name });
  });

  it("refuses a second task with the same template_name in one channel", async () => {
    const channel = await createChannel();
    await createTask(channel.id, { template_name: "daily" });
    await expectError(await call("/api/tasks", { body: { channel_id: channel.id, type: "interval", schedule: "5m", prompt: "x", template_name: "daily" } }), 409, { field: "template_name" });
  });
});

describe("worktree tasks on the runner protocol", () => {
  it("a worktree task's job names the task and its branch options; a plain task's does not", async () => {
    const { channel, runner } = await labelled();
    const token = await runner();
    const task = await createTask(channel.id, { type: "manual", worktree: true, origin_branch: "main", update_before_run: true });
    await call(`/api/tasks/${task.id}/run`, { method: "POST" });
    const job = (await claim(token))!;
    expect(job.worktree).toEqual({ task_id: task.id, origin_branch: "main", update_before_run: true });
    expect(job.workdir).toBe(channel.dir_path);
    await complete(token, job);
  });

  it("deleting the task tells exactly the runners that ran it to remove its worktree, until they acknowledge", async () => {
    const { channel, runner } = await labelled();
    const [ran, idle] = [await runner("a"), await runner("b")];
    const task = await createTask(channel.id, { type: "manual", worktree: true });
    await call(`/api/tasks/${task.id}/run`, { method: "POST" });
    await complete(ran, (await claim(ran))!);

    const removals = (token: string) => callOk(WorktreeRemovals, "/runner/v1/worktrees/removals", { body: {}, token });
    // An idle claim's 204 says whether removals wait, so runners need not poll for them.
    const idleClaimSays = async (token: string) => {
      const res = await call("/runner/v1/claim", { body: { wait_ms: 0 }, token });
      expect(res.status).toBe(204);
      return res.headers.get(WORKTREE_REMOVALS_HEADER);
    };
    expect((await removals(ran)).removals).toEqual([]);
    expect(await idleClaimSays(ran)).toBeNull();
    expect((await call(`/api/tasks/${task.id}`, { method: "DELETE" })).status).toBe(204);
    expect(await idleClaimSays(ran)).toBe("1");
    expect(await idleClaimSays(idle)).toBeNull();
    expect((await removals(ran)).removals).toEqual([{ task_id: task.id, dir_path: channel.dir_path }]);
    expect((await removals(idle)).removals).toEqual([]);
    // Asking again (a runner restarted before acknowledging) gives the same answer.
    expect((await removals(ran)).removals).toHaveLength(1);

    const ack = await callOk(WorktreesRemovedResponse, "/runner/v1/worktrees/removed", { body: { task_ids: [task.id] }, token: ran });
    expect(ack.forgotten).toBe(1);
    expect((await removals(ran)).removals).toEqual([]);
    expect(await idleClaimSays(ran)).toBeNull();
    await expectError(await call("/runner/v1/worktrees/removed", { body: { task_ids: [] }, token: ran }), 422, { field: "task_ids" });
    expect((await call("/runner/v1/worktrees/removals", { body: {} })).status).toBe(401);
  });

  it("turning worktree off also schedules the removal; a task that never ran leaves nothing to remove", async () => {
    const { channel, runner } = await labelled();
    const token = await runner();
    const ranTask = await createTask(channel.id, { type: "manual", worktree: true });
    const neverRan = await createTask(channel.id, { type: "manual", worktree: true });
    await call(`/api/tasks/${ranTask.id}/run`, { method: "POST" });
    await complete(token, (await claim(token))!);
    await callOk(TaskWithPreview, `/api/tasks/${ranTask.id}`, { method: "PATCH", body: { worktree: false } });
    await call(`/api/tasks/${neverRan.id}`, { method: "DELETE" });
    const { removals } = await callOk(WorktreeRemovals, "/runner/v1/worktrees/removals", { body: {}, token });
    expect(removals).toEqual([{ task_id: ranTask.id, dir_path: channel.dir_path }]);
    expect((await getTask(ranTask.id)).worktree).toBe(false);
  });
});

describe("MCP task tools speak the original's arguments", () => {
  const clients: Client[] = [];
  afterEach(async () => void (await Promise.all(clients.splice(0).map((c) => c.close()))));

  async function tool(name: string, args: Record<string, unknown>): Promise<CallToolResult> {
    const transport = new StreamableHTTPClientTransport(new URL("http://loop.test/mcp"), {
      fetch: (url, init) => SELF.fetch(url, init),
      requestInit: { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } },
    });
    const client = new Client({ name: "t", version: "1" }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
    await client.connect(transport);
    clients.push(client);
    return (await client.callTool({ name, arguments: args })) as CallToolResult;
  }

  it("schedule_task takes type manual without a schedule and the worktree options; edit_task changes them", async () => {
    const channel = await createChannel();
    const made = await tool("schedule_task", {
      channel_id: channel.id,
      type: "manual",
      prompt: "ship it",
      worktree: true,
      origin_branch: "main",
      update_before_run: true,
      auto_delete_sec: 30,
      template_name: "ship",
    });
    expect(made.isError, JSON.stringify(made.content)).toBeFalsy();
    const task = TaskWithPreview.parse(made.structuredContent);
    expect(task).toMatchObject({ type: "manual", worktree: true, origin_branch: "main", update_before_run: true, auto_delete_sec: 30, template_name: "ship" });
    expect((made.content[0] as { text: string }).text).toMatch(/only when triggered/);

    const edited = await tool("edit_task", { task_id: task.id, auto_delete_sec: 0, update_before_run: false });
    expect(TaskWithPreview.parse(edited.structuredContent)).toMatchObject({ auto_delete_sec: 0, update_before_run: false, worktree: true });
    const refused = await tool("schedule_task", { channel_id: channel.id, type: "cron", schedule: "0 9 * * *", prompt: "x", origin_branch: "main" });
    expect(refused.isError).toBe(true);
    expect((refused.content[0] as { text: string }).text).toMatch(/origin_branch/);
  });
});
