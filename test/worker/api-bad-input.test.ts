/**
 * Requests the API must refuse, and how: malformed JSON is a 400, a body of the wrong shape a
 * 422 naming the offending field, an oversized body a 413, an unknown id or route a 404; every
 * error in one {"error": {code, message, field?}} envelope; and a refused request changes
 * nothing stored.
 */
import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_BODY_BYTES, MAX_PROMPT_CHARS } from "../../protocol/api.ts";
import {
  ADMIN,
  BASE,
  call,
  Channel,
  countTasks,
  createChannel,
  createTask,
  expectError,
  snapshotStore,
  taskRow,
  uniqueDir,
} from "./helpers.ts";

let channel: Channel;
let taskId: number;

beforeAll(async () => {
  channel = await createChannel();
  taskId = (await createTask(channel.id, { type: "cron", schedule: "0 9 * * *", tz: "Europe/Berlin" })).id;
});

const validTask = () => ({ channel_id: channel.id, type: "interval", schedule: "5m", prompt: "do the thing" });

/** Sends a request expected to be refused and asserts nothing stored changed. */
async function refused(path: string, opts: Parameters<typeof call>[1]): Promise<Response> {
  const before = await snapshotStore();
  const res = await call(path, opts);
  expect(await snapshotStore()).toEqual(before);
  return res;
}

const bodyEndpoints = [
  { name: "POST /api/tasks", method: "POST", path: () => "/api/tasks" },
  { name: "PATCH /api/tasks/:id", method: "PATCH", path: () => `/api/tasks/${taskId}` },
  { name: "POST /api/channels", method: "POST", path: () => "/api/channels" },
  { name: "POST /api/tokens", method: "POST", path: () => "/api/tokens" },
];

describe("malformed JSON", () => {
  const bodies = [
    ["a truncated object", '{"prompt": "x"'],
    ["an empty body", ""],
    ["plain text", "hello"],
    ["single quotes", "{'prompt': 'x'}"],
    ["a trailing comma", '{"prompt": "x",}'],
  ];
  const cases = bodyEndpoints.flatMap((e) => bodies.map(([what, body]) => ({ title: `${e.name} with ${what}`, e, body: body! })));

  it.each(cases)("$title → 400 invalid_json", async ({ e, body }) => {
    const res = await refused(e.path(), { method: e.method, body });
    await expectError(res, 400, { code: "invalid_json", field: null });
  });
});

describe("a body of the wrong shape", () => {
  it.each([
    ["POST /api/tasks", "a numeric channel_id", () => ({ ...validTask(), channel_id: 5 }), "channel_id"],
    ["POST /api/tasks", "an unknown type", () => ({ ...validTask(), type: "daily" }), "type"],
    ["POST /api/tasks", "a numeric prompt", () => ({ ...validTask(), prompt: 42 }), "prompt"],
    ["POST /api/tasks", "a null schedule", () => ({ ...validTask(), schedule: null }), "schedule"],
    ["POST /api/tasks", "a numeric tz", () => ({ ...validTask(), type: "cron", schedule: "0 9 * * *", tz: 1 }), "tz"],
    ["POST /api/tasks", "an empty tz", () => ({ ...validTask(), type: "cron", schedule: "0 9 * * *", tz: "" }), "tz"],
    ["POST /api/tasks", "no prompt", () => ({ channel_id: channel.id, type: "interval", schedule: "5m" }), "prompt"],
    ["POST /api/tasks", "a schedule over 200 characters", () => ({ ...validTask(), schedule: "5m".repeat(101) }), "schedule"],
    ["PATCH /api/tasks/:id", "a string enabled", () => ({ enabled: "false" }), "enabled"],
    ["PATCH /api/tasks/:id", "a numeric tz", () => ({ tz: 0 }), "tz"],
    ["PATCH /api/tasks/:id", "an unknown type", () => ({ type: "weekly", schedule: "5m" }), "type"],
    ["POST /api/channels", "a numeric dir_path", () => ({ dir_path: 1 }), "dir_path"],
    ["POST /api/channels", "an empty name", () => ({ dir_path: uniqueDir(), name: "  " }), "name"],
    ["POST /api/channels", "an empty channel_id", () => ({ dir_path: uniqueDir(), channel_id: "" }), "channel_id"],
    ["POST /api/tokens", "a made-up scope", () => ({ name: "t", scope: "everything" }), "scope"],
    ["POST /api/tokens", "an empty scope list", () => ({ name: "t", scope: [] }), "scope"],
    ["POST /api/tokens", "a fractional expiry", () => ({ name: "t", scope: "admin", expires_in_days: 1.5 }), "expires_in_days"],
    ["POST /api/tokens", "a zero expiry", () => ({ name: "t", scope: "admin", expires_in_days: 0 }), "expires_in_days"],
    ["POST /api/tokens", "an empty name", () => ({ name: "", scope: "admin" }), "name"],
  ] as const)("%s with %s → 422 naming %s", async (endpoint, _what, body, field) => {
    const e = bodyEndpoints.find((x) => x.name === endpoint)!;
    const res = await refused(e.path(), { method: e.method, body: body() });
    const err = await expectError(res, 422, { code: "invalid_request", field });
    expect(err.message).toContain(field);
  });

  it.each(bodyEndpoints.flatMap((e) => [["an array", [], e], ["null", null, e], ["a string", "just text", e]] as const))(
    "%s as the whole body of %s → 422 naming the body",
    async (_what, body, e) => {
      const res = await refused(e.path(), { method: e.method, body: JSON.stringify(body) });
      await expectError(res, 422, { code: "invalid_request", field: "body" });
    },
  );

  it("an empty PATCH → 422 saying there is nothing to change", async () => {
    const err = await expectError(await refused(`/api/tasks/${taskId}`, { method: "PATCH", body: {} }), 422, {
      field: "body",
    });
    expect(err.message).toContain("nothing to change");
  });
});

describe("unknown fields", () => {
  it.each([
    ["POST /api/tasks", () => ({ ...validTask(), next_run_at: "2030-01-01T00:00:00Z" }), "next_run_at"],
    ["POST /api/tasks", () => ({ ...validTask(), enabled: false }), "enabled"],
    ["PATCH /api/tasks/:id", () => ({ channel_id: "ch_elsewhere" }), "channel_id"],
    ["PATCH /api/tasks/:id", () => ({ prompt: "ok", id: 7 }), "id"],
    ["POST /api/channels", () => ({ dir_path: uniqueDir(), session_id: "s" }), "session_id"],
    ["POST /api/tokens", () => ({ name: "t", scope: "admin", token: "loop_api_mine" }), "token"],
  ] as const)("%s with %s → 422 naming the unknown field", async (endpoint, body, field) => {
    const e = bodyEndpoints.find((x) => x.name === endpoint)!;
    const res = await refused(e.path(), { method: e.method, body: body() });
    const err = await expectError(res, 422, { code: "invalid_request", field });
    expect(err.message).toContain(`"${field}"`);
  });

  it.each([
    ["/api/tasks?foo=1", "foo"],
    ["/api/runs?sort=asc", "sort"],
    ["/api/tasks/TASK/next?count=2&verbose=1", "verbose"],
  ])("GET %s → 422 naming the unknown parameter %s", async (path, field) => {
    const res = await call(path.replace("TASK", String(taskId)));
    await expectError(res, 422, { code: "invalid_request", field });
  });
});

describe("prompts", () => {
  it.each([
    ["empty", ""],
    ["blank", " \n\t "],
  ])("refuses an %s prompt on create and on update", async (_what, prompt) => {
    await expectError(await refused("/api/tasks", { method: "POST", body: { ...validTask(), prompt } }), 422, {
      field: "prompt",
    });
    await expectError(await refused(`/api/tasks/${taskId}`, { method: "PATCH", body: { prompt } }), 422, {
      field: "prompt",
    });
  });

  it(`accepts a prompt of exactly ${MAX_PROMPT_CHARS} characters and refuses one more`, async () => {
    const longest = "p".repeat(MAX_PROMPT_CHARS);
    const ok = await call("/api/tasks", { method: "POST", body: { ...validTask(), prompt: longest } });
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { prompt: string }).prompt).toHaveLength(MAX_PROMPT_CHARS);

    const res = await refused("/api/tasks", { method: "POST", body: { ...validTask(), prompt: `${longest}p` } });
    const err = await expectError(res, 422, { code: "invalid_request", field: "prompt" });
    expect(err.message).toContain(String(MAX_PROMPT_CHARS));
  });
});

describe("body size", () => {
  it("refuses a body over 64 KiB with 413 before reading it", async () => {
    const prompt = "x".repeat(MAX_BODY_BYTES);
    const res = await refused("/api/tasks", { method: "POST", body: { ...validTask(), prompt } });
    await expectError(res, 413, { code: "body_too_large", field: null });
  });

  it("refuses an oversized body sent without a Content-Length, counting as it reads", async () => {
    const chunk = new TextEncoder().encode(`{"pad": "${"z".repeat(16 * 1024)}`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(chunk);
        controller.close();
      },
    });
    const before = await snapshotStore();
    const res = await SELF.fetch(`${BASE}/api/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: stream,
    });
    await expectError(res, 413, { code: "body_too_large" });
    expect(await snapshotStore()).toEqual(before);
  });

  it("refuses an oversized PATCH too, leaving the task as it was", async () => {
    const res = await refused(`/api/tasks/${taskId}`, { method: "PATCH", body: { prompt: "y".repeat(MAX_BODY_BYTES + 10) } });
    await expectError(res, 413, { code: "body_too_large" });
  });
});

describe("bad schedules", () => {
  it.each([
    ["a 6-field cron", { type: "cron", schedule: "0 0 9 * * *" }, "schedule"],
    ["a cron minute of 60", { type: "cron", schedule: "60 9 * * *" }, "schedule"],
    ["an unknown time zone", { type: "cron", schedule: "0 9 * * *", tz: "Mars/Olympus" }, "tz"],
    ["a tz on an interval", { type: "interval", schedule: "5m", tz: "UTC" }, "tz"],
    ["an interval below the minimum", { type: "interval", schedule: "30s" }, "schedule"],
    ["a made-up duration unit", { type: "interval", schedule: "5x" }, "schedule"],
    ["an empty duration", { type: "interval", schedule: "" }, "schedule"],
    ["a once time in words", { type: "once", schedule: "tomorrow" }, "schedule"],
    ["a once date without a time", { type: "once", schedule: "2030-12-01" }, "schedule"],
    ["a once time in the past", { type: "once", schedule: "2001-01-01T00:00:00Z" }, "schedule"],
    ["a once time on a day that does not exist", { type: "once", schedule: "2099-02-30T09:00:00Z" }, "schedule"],
  ])("POST /api/tasks with %s → 422 naming %s, with an example", async (_what, fields, field) => {
    const before = await countTasks();
    const res = await refused("/api/tasks", { method: "POST", body: { channel_id: channel.id, prompt: "p", ...fields } });
    const err = await expectError(res, 422, { code: "invalid_schedule", field });
    expect(err.message).toContain("Example");
    expect(await countTasks()).toBe(before);
  });
});

describe("a refused PATCH changes nothing", () => {
  it.each([
    ["an invalid cron", { schedule: "99 * * * *" }, 422],
    ["a bad time zone", { tz: "Nowhere/Special" }, 422],
    ["a type change without a schedule", { type: "once" }, 422],
    ["a valid change alongside an invalid one", { enabled: false, prompt: "changed", schedule: "not cron" }, 422],
    ["a tz while switching to an interval", { type: "interval", schedule: "5m", tz: "Europe/Berlin" }, 422],
    ["an unknown field beside a valid one", { prompt: "changed", owner: "me" }, 422],
    ["a wrong type beside a valid one", { prompt: "changed", enabled: "no" }, 422],
    ["malformed JSON", '{"prompt": "changed"', 400],
  ])("%s leaves the task exactly as it was", async (_what, body, status) => {
    const before = await taskRow(taskId);
    const res = await refused(`/api/tasks/${taskId}`, { method: "PATCH", body });
    await expectError(res, status);
    expect(await taskRow(taskId)).toEqual(before);
    expect(before).toMatchObject({ type: "cron", schedule: "0 9 * * *", tz: "Europe/Berlin", enabled: true });
  });
});

describe("query parameters", () => {
  it.each([
    ["/api/tasks/TASK/next?count=0", "count"],
    ["/api/tasks/TASK/next?count=51", "count"],
    ["/api/tasks/TASK/next?count=two", "count"],
    ["/api/tasks/TASK/next?count=1.5", "count"],
    ["/api/runs?limit=0", "limit"],
    ["/api/runs?limit=201", "limit"],
    ["/api/runs?status=done", "status"],
    ["/api/runs?before=-1", "before"],
    ["/api/runs?task_id=abc", "task_id"],
    ["/api/tasks?channel_id=", "channel_id"],
  ])("GET %s → 422 naming %s", async (path, field) => {
    await expectError(await call(path.replace("TASK", String(taskId))), 422, { code: "invalid_request", field });
  });
});

describe("unknown ids", () => {
  it.each([
    ["GET", "/api/tasks/987654"],
    ["GET", "/api/tasks/abc"],
    ["GET", "/api/tasks/0"],
    ["GET", "/api/tasks/-1"],
    ["GET", "/api/tasks/1.5"],
    ["GET", "/api/tasks/1e3"],
    ["GET", "/api/tasks/0x10"],
    ["GET", "/api/tasks/99999999999999999999"],
    ["GET", "/api/tasks/abc/next"],
    ["PATCH", "/api/tasks/abc"],
    ["DELETE", "/api/tasks/abc"],
    ["DELETE", "/api/tasks/987654"],
    ["GET", "/api/runs/987654"],
    ["GET", "/api/runs/abc"],
    ["GET", "/api/channels/ch_nope"],
    ["DELETE", "/api/tokens/tok_nope"],
  ])("%s %s → 404 not_found", async (method, path) => {
    const res = await refused(path, { method, ...(method === "PATCH" ? { body: { prompt: "x" } } : {}) });
    await expectError(res, 404, { code: "not_found", field: null });
  });

  it("a non-numeric task id is refused before its body is read", async () => {
    await expectError(await call("/api/tasks/abc", { method: "PATCH", body: "{not json" }), 404, { code: "not_found" });
  });
});

describe("unknown routes", () => {
  it.each([
    ["GET", "/api/nothing"],
    ["GET", "/nothing"],
    ["GET", "/"],
    ["PUT", "/api/tasks/1"],
    ["PUT", "/api/runs/1"],
    ["GET", "/api/tasks/1/extra/parts"],
    ["PUT", "/api/channels"],
  ])("%s %s → 404 with a JSON error body", async (method, path) => {
    const res = await refused(path, { method });
    const err = await expectError(res, 404, { code: "not_found", field: null });
    expect(err.message).toContain(method);
  });
});
