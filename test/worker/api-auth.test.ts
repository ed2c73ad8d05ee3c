/**
 * Who may call what. Every REST endpoint against every kind of credential, one named test
 * per combination, plus the listing and minting rules of channel-scoped tokens.
 *
 * A channel-scoped token asking about another channel's records must get the same 404 a
 * missing record gets, and no byte of the other channel's data.
 */
import { beforeAll, describe, expect, it } from "vitest";
import {
  ADMIN,
  call,
  callOk,
  Channel,
  ChannelList,
  createChannel,
  createTask,
  expectError,
  insertDiscordChannel,
  insertRun,
  mintToken,
  RunList,
  snapshotStore,
  TaskList,
  uniqueDir,
} from "./helpers.ts";

interface Side {
  channel: Channel;
  taskId: number;
  runId: number;
  /** Strings only this side's records contain. */
  secrets: string[];
}

interface Fixtures {
  own: Side;
  other: Side;
  /** Scoped to `own.channel` only. */
  scoped: string;
  adminApi: string;
}

let fx: Fixtures;

async function side(label: string): Promise<Side> {
  const channel = await createChannel({ dir: uniqueDir(`${label}-dir`), name: `${label}-channel-name` });
  const task = await createTask(channel.id, { prompt: `${label} task prompt` });
  const runId = await insertRun({ channelId: channel.id, prompt: `${label} run prompt`, resultText: `${label} result` });
  return {
    channel,
    taskId: task.id,
    runId,
    secrets: [channel.id, channel.name, channel.dir_path!, `${label} task prompt`, `${label} run prompt`, `${label} result`],
  };
}

beforeAll(async () => {
  const own = await side("own");
  const other = await side("other");
  const scoped = (await mintToken([own.channel.id], { name: "own channel" })).token;
  const adminApi = (await mintToken("admin", { name: "admin api" })).token;
  fx = { own, other, scoped, adminApi };
});

interface Req {
  method: string;
  path: string;
  body?: unknown;
}

interface Endpoint {
  name: string;
  /** The request against `target`'s records; may create a fresh record to act on. */
  build(target: Side): Promise<Req>;
  admin: number;
  own: number;
  other: number;
}

const endpoints: Endpoint[] = [
  {
    name: "POST /api/tasks",
    build: async (t) => ({
      method: "POST",
      path: "/api/tasks",
      body: { channel_id: t.channel.id, type: "interval", schedule: "10m", prompt: "new task" },
    }),
    admin: 201,
    own: 201,
    other: 404,
  },
  {
    name: "GET /api/tasks",
    build: async (t) => ({ method: "GET", path: `/api/tasks?channel_id=${t.channel.id}` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "GET /api/tasks/:id",
    build: async (t) => ({ method: "GET", path: `/api/tasks/${t.taskId}` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "PATCH /api/tasks/:id",
    build: async (t) => ({ method: "PATCH", path: `/api/tasks/${t.taskId}`, body: { schedule: "15m" } }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "DELETE /api/tasks/:id",
    build: async (t) => ({ method: "DELETE", path: `/api/tasks/${(await createTask(t.channel.id)).id}` }),
    admin: 204,
    own: 204,
    other: 404,
  },
  {
    name: "GET /api/tasks/:id/next",
    build: async (t) => ({ method: "GET", path: `/api/tasks/${t.taskId}/next?count=3` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "POST /api/channels",
    build: async (t) => ({ method: "POST", path: "/api/channels", body: { dir_path: t.channel.dir_path } }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    // A listing has no target: "other" here means the scoped token's view leaves the other channel out.
    name: "GET /api/channels",
    build: async () => ({ method: "GET", path: "/api/channels" }),
    admin: 200,
    own: 200,
    other: 200,
  },
  {
    name: "GET /api/channels/:id",
    build: async (t) => ({ method: "GET", path: `/api/channels/${t.channel.id}` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "GET /api/runs",
    build: async (t) => ({ method: "GET", path: `/api/runs?channel_id=${t.channel.id}` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "GET /api/runs/:id",
    build: async (t) => ({ method: "GET", path: `/api/runs/${t.runId}` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "POST /api/runs",
    build: async (t) => ({ method: "POST", path: "/api/runs", body: { channel_id: t.channel.id, prompt: "run now" } }),
    admin: 201,
    own: 201,
    other: 404,
  },
  {
    name: "POST /api/runs/:id/cancel",
    build: async (t) => ({ method: "POST", path: `/api/runs/${await insertRun({ channelId: t.channel.id })}/cancel` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "PATCH /api/channels/:id",
    build: async (t) => ({ method: "PATCH", path: `/api/channels/${t.channel.id}`, body: { runner_label: "home" } }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "DELETE /api/channels/:id/session",
    build: async (t) => ({ method: "DELETE", path: `/api/channels/${t.channel.id}/session` }),
    admin: 200,
    own: 200,
    other: 404,
  },
  {
    name: "POST /api/runners",
    build: async () => ({ method: "POST", path: "/api/runners", body: { name: `runner-${crypto.randomUUID()}` } }),
    admin: 201,
    own: 403,
    other: 403,
  },
  {
    name: "GET /api/runners",
    build: async () => ({ method: "GET", path: "/api/runners" }),
    admin: 200,
    own: 403,
    other: 403,
  },
  {
    name: "PUT /api/templates/:name",
    build: async () => ({ method: "PUT", path: `/api/templates/t-${crypto.randomUUID().slice(0, 8)}`, body: { schedule: "0 9 * * *", type: "cron", prompt: "daily" } }),
    admin: 201,
    own: 403,
    other: 403,
  },
  {
    name: "GET /api/templates",
    build: async () => ({ method: "GET", path: "/api/templates" }),
    admin: 200,
    own: 200,
    other: 200,
  },
  {
    name: "POST /api/tokens",
    build: async (t) => ({ method: "POST", path: "/api/tokens", body: { name: "minted", scope: [t.channel.id] } }),
    admin: 201,
    own: 403,
    other: 403,
  },
  {
    name: "GET /api/tokens",
    build: async () => ({ method: "GET", path: "/api/tokens" }),
    admin: 200,
    own: 403,
    other: 403,
  },
  {
    name: "DELETE /api/tokens/:id",
    build: async (t) => ({ method: "DELETE", path: `/api/tokens/${(await mintToken([t.channel.id], { name: "victim" })).id}` }),
    admin: 204,
    own: 403,
    other: 403,
  },
];

type Expect = "admin" | "own" | "other" | 401;

interface Credential {
  name: string;
  /** The Authorization header to send, or null for none. */
  header(): string | null;
  target: "own" | "other";
  expect: Expect;
}

const credentials: Credential[] = [
  { name: "no Authorization header", header: () => null, target: "own", expect: 401 },
  { name: "a Basic header", header: () => `Basic ${btoa("admin:" + ADMIN)}`, target: "own", expect: 401 },
  { name: "Bearer with no token", header: () => "Bearer", target: "own", expect: 401 },
  { name: "the admin secret without the Bearer scheme", header: () => ADMIN, target: "own", expect: 401 },
  { name: "a Bearer header with two tokens", header: () => `Bearer ${ADMIN} ${ADMIN}`, target: "own", expect: 401 },
  { name: "an unknown loop_api_ token", header: () => `Bearer loop_api_${"x".repeat(43)}`, target: "own", expect: 401 },
  { name: "a token Loop never issues", header: () => "Bearer not-a-loop-token-at-all", target: "own", expect: 401 },
  { name: "the admin secret with one character changed", header: () => `Bearer ${ADMIN.slice(0, -1)}X`, target: "own", expect: 401 },
  { name: "a loop_runner_ token", header: () => `Bearer loop_runner_${"r".repeat(43)}`, target: "own", expect: 401 },
  { name: "the ADMIN_TOKEN secret", header: () => `Bearer ${ADMIN}`, target: "other", expect: "admin" },
  { name: "a minted admin token", header: () => `Bearer ${fx.adminApi}`, target: "other", expect: "admin" },
  { name: "a channel token on its own channel", header: () => `Bearer ${fx.scoped}`, target: "own", expect: "own" },
  { name: "a channel token on another channel", header: () => `Bearer ${fx.scoped}`, target: "other", expect: "other" },
];

const cases = endpoints.flatMap((endpoint) =>
  credentials.map((credential) => {
    const status = credential.expect === 401 ? 401 : endpoint[credential.expect];
    return { title: `${endpoint.name} with ${credential.name} → ${status}`, endpoint, credential, status };
  }),
);

describe("every endpoint × every credential", () => {
  it.each(cases)("$title", async ({ endpoint, credential, status }) => {
    const target = fx[credential.target];
    const req = await endpoint.build(target);
    const header = credential.header();
    const refused = status >= 400;
    const before = refused ? await snapshotStore() : null;

    const res = await call(req.path, {
      method: req.method,
      body: req.body,
      ...(header === null ? { token: null } : { authorization: header }),
    });

    if (!refused) {
      expect(res.status, await res.clone().text()).toBe(status);
      if (status !== 204) await res.json();
    } else {
      const text = await res.clone().text();
      const codes: Record<number, string> = { 401: "unauthorized", 403: "forbidden", 404: "not_found" };
      await expectError(res, status, { code: codes[status]! });
      if (status === 401) expect(res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
      else expect(res.headers.get("www-authenticate")).toBeNull();
      // No trace of the other channel beyond what the caller itself sent.
      const sent = JSON.stringify(req);
      for (const secret of fx.other.secrets) if (!sent.includes(secret)) expect(text).not.toContain(secret);
      expect(await snapshotStore()).toEqual(before);
    }

    if (endpoint.name === "GET /api/channels" && credential.expect === "other") {
      const { channels } = await callOk(ChannelList, "/api/channels", { token: fx.scoped });
      expect(channels.map((c) => c.id)).toEqual([fx.own.channel.id]);
    }
  });
});

describe("channel-scoped tokens", () => {
  it("see only their own channels' records in listings that name no channel", async () => {
    const third = await createChannel();
    const thirdTask = await createTask(third.id);
    const thirdRun = await insertRun({ channelId: third.id });
    const token = (await mintToken([fx.own.channel.id, third.id])).token;

    const channels = (await callOk(ChannelList, "/api/channels", { token })).channels.map((c) => c.id);
    expect(channels.sort()).toEqual([fx.own.channel.id, third.id].sort());

    const tasks = (await callOk(TaskList, "/api/tasks", { token })).tasks;
    expect(tasks.map((t) => t.id)).toEqual(expect.arrayContaining([fx.own.taskId, thirdTask.id]));
    expect(new Set(tasks.map((t) => t.channel_id))).toEqual(new Set([fx.own.channel.id, third.id]));

    const runs = (await callOk(RunList, "/api/runs", { token })).runs;
    expect(runs.map((r) => r.id)).toEqual(expect.arrayContaining([fx.own.runId, thirdRun]));
    expect(runs.map((r) => r.id)).not.toContain(fx.other.runId);
    expect(new Set(runs.map((r) => r.channel_id))).toEqual(new Set([fx.own.channel.id, third.id]));
  });

  it("find no runs when filtering by another channel's task id", async () => {
    const otherTaskRun = await insertRun({ channelId: fx.other.channel.id, taskId: fx.other.taskId, trigger: "schedule", scheduledFor: 1 });
    expect((await callOk(RunList, `/api/runs?task_id=${fx.other.taskId}`)).runs.map((r) => r.id)).toContain(otherTaskRun);
    expect(await callOk(RunList, `/api/runs?task_id=${fx.other.taskId}`, { token: fx.scoped })).toEqual({ runs: [] });
  });

  it("cannot mint tokens, not even for their own channel", async () => {
    const res = await call("/api/tokens", { method: "POST", token: fx.scoped, body: { name: "escalate", scope: "admin" } });
    await expectError(res, 403, { code: "forbidden" });
    const own = await call("/api/tokens", { method: "POST", token: fx.scoped, body: { name: "copy", scope: [fx.own.channel.id] } });
    await expectError(own, 403, { code: "forbidden" });
  });

  it("cannot create a brand-new channel", async () => {
    const dir = uniqueDir("new");
    const before = await snapshotStore();
    await expectError(await call("/api/channels", { method: "POST", token: fx.scoped, body: { dir_path: dir } }), 403, {
      code: "forbidden",
    });
    const snowflake = { dir_path: dir, channel_id: "998877665544332211" };
    await expectError(await call("/api/channels", { method: "POST", token: fx.scoped, body: snowflake }), 403, {
      code: "forbidden",
    });
    expect(await snapshotStore()).toEqual(before);
  });

  it("may bind a channel in its scope that has no directory yet", async () => {
    const { id, discordId } = await insertDiscordChannel();
    const token = (await mintToken([id])).token;
    const dir = uniqueDir();
    const bound = await callOk(Channel, "/api/channels", { method: "POST", token, body: { dir_path: dir, channel_id: discordId } });
    expect(bound).toMatchObject({ id, dir_path: dir });
  });

  it("get 404, not the other channel's id, when binding to a directory another channel holds", async () => {
    const before = await snapshotStore();
    const res = await call("/api/channels", {
      method: "POST",
      token: fx.scoped,
      body: { dir_path: fx.other.channel.dir_path, channel_id: fx.own.channel.id },
    });
    const text = await res.clone().text();
    await expectError(res, 404, { code: "not_found" });
    expect(text).not.toContain(fx.other.channel.id);
    expect(await snapshotStore()).toEqual(before);
  });

  it("get 404 when binding another channel to a directory", async () => {
    const res = await call("/api/channels", {
      method: "POST",
      token: fx.scoped,
      body: { dir_path: uniqueDir(), channel_id: fx.other.channel.id },
    });
    await expectError(res, 404, { code: "not_found" });
  });

  it("cannot move a task into another channel", async () => {
    const res = await call(`/api/tasks/${fx.own.taskId}`, {
      method: "PATCH",
      token: fx.scoped,
      body: { channel_id: fx.other.channel.id },
    });
    await expectError(res, 422, { field: "channel_id" });
  });
});

describe("the Authorization header", () => {
  it("accepts the Bearer scheme in any case, as RFC 7235 allows", async () => {
    expect((await call("/api/channels", { authorization: `bearer ${ADMIN}` })).status).toBe(200);
    expect((await call("/api/channels", { authorization: `BEARER ${ADMIN}` })).status).toBe(200);
  });

  it("says why a runner token was refused", async () => {
    const err = await expectError(await call("/api/channels", { token: `loop_runner_${"r".repeat(43)}` }), 401);
    expect(err.message).toContain("/runner/v1");
  });

  it("leaves the health check open", async () => {
    expect((await call("/api/health", { token: null })).status).toBe(200);
  });

  it("refuses unknown routes under /api without a token before saying they do not exist", async () => {
    await expectError(await call("/api/nothing-here", { token: null }), 401, { code: "unauthorized" });
  });
});
