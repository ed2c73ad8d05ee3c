/** /api/tasks: creating, listing, previewing, changing and deleting scheduled tasks. */
import { describe, expect, it } from "vitest";
import { z } from "zod";
import {
  call,
  callOk,
  createChannel,
  createTask,
  expectError,
  getTask,
  insertDiscordChannel,
  taskRow,
  TaskList,
  TaskWithPreview,
} from "./helpers.ts";

const MIN = 60_000;
const HOUR = 3_600_000;
const NextList = z.object({ task_id: z.number(), next: z.array(z.string()) });

const ms = (iso: string | null) => Date.parse(iso!);

function expectStrictlyIncreasing(times: string[]): void {
  for (const t of times) expect(new Date(t).toISOString()).toBe(t);
  for (let i = 1; i < times.length; i++) expect(ms(times[i]!)).toBeGreaterThan(ms(times[i - 1]!));
}

/** Wall-clock "HH:mm" of an ISO time in a time zone. */
function localTime(iso: string, tz: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(
    new Date(iso),
  );
}

function patch(id: number, body: unknown) {
  return callOk(TaskWithPreview, `/api/tasks/${id}`, { method: "PATCH", body });
}

describe("POST /api/tasks", () => {
  it("creates an interval task due one interval after creation, previewing three times on that grid", async () => {
    const channel = await createChannel();
    const before = Date.now();
    const task = await createTask(channel.id, { type: "interval", schedule: "1h30m", prompt: "summarise the logs" });
    const after = Date.now();

    expect(task).toMatchObject({
      channel_id: channel.id,
      type: "interval",
      schedule: "1h30m",
      tz: null,
      prompt: "summarise the logs",
      enabled: true,
      last_run_at: null,
      template_name: null,
    });
    const created = ms(task.created_at);
    expect(created).toBeGreaterThanOrEqual(before);
    expect(created).toBeLessThanOrEqual(after);
    expect(ms(task.next_run_at)).toBe(created + 90 * MIN);
    expect(task.preview).toHaveLength(3);
    expect(task.preview[0]).toBe(task.next_run_at);
    expectStrictlyIncreasing(task.preview);
    expect(task.preview.map(ms)).toEqual([1, 2, 3].map((k) => created + k * 90 * MIN));
  });

  it("creates a cron task read in its time zone: every preview time is 09:00 in Berlin", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *", tz: "Europe/Berlin" });

    expect(task.tz).toBe("Europe/Berlin");
    const next = ms(task.next_run_at);
    expect(next).toBeGreaterThan(ms(task.created_at));
    expect(next - ms(task.created_at)).toBeLessThanOrEqual(25 * HOUR);
    expect(task.preview).toHaveLength(3);
    expect(task.preview[0]).toBe(task.next_run_at);
    expectStrictlyIncreasing(task.preview);
    expect(task.preview.map((t) => localTime(t, "Europe/Berlin"))).toEqual(["09:00", "09:00", "09:00"]);
  });

  it("creates a cron task in UTC when no tz is given", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "15 4 * * *" });
    expect(task.tz).toBeNull();
    expect(task.preview.map((t) => t.slice(11))).toEqual(["04:15:00.000Z", "04:15:00.000Z", "04:15:00.000Z"]);
  });

  it('stores a once task "in 10m" as the absolute time ten minutes after creation', async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "once", schedule: "in 10m" });

    expect(ms(task.next_run_at)).toBe(ms(task.created_at) + 10 * MIN);
    // Stored absolute, so reading it back later does not move it.
    expect(task.schedule).toBe(task.next_run_at);
    expect(task.preview).toEqual([task.next_run_at]);
    expect((await getTask(task.id)).next_run_at).toBe(task.next_run_at);
  });

  it("normalises a once time written with an offset to UTC", async () => {
    const channel = await createChannel();
    const year = new Date().getUTCFullYear() + 2;
    const task = await createTask(channel.id, { type: "once", schedule: `${year}-01-15T10:00:00+02:00` });
    expect(task.schedule).toBe(`${year}-01-15T08:00:00.000Z`);
    expect(task.next_run_at).toBe(task.schedule);
  });

  it("accepts a channel's Discord id and files the task under its Loop id", async () => {
    const { id, discordId } = await insertDiscordChannel();
    const task = await createTask(discordId);
    expect(task.channel_id).toBe(id);
  });

  it("answers 404 for a channel that does not exist, storing nothing", async () => {
    const res = await call("/api/tasks", {
      method: "POST",
      body: { channel_id: "ch_missing", type: "interval", schedule: "5m", prompt: "x" },
    });
    await expectError(res, 404, { code: "not_found" });
  });
});

describe("GET /api/tasks", () => {
  it("lists only the named channel's tasks, newest first", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const a1 = await createTask(a.id);
    const b1 = await createTask(b.id);
    const a2 = await createTask(a.id, { type: "cron", schedule: "0 * * * *" });

    const { tasks } = await callOk(TaskList, `/api/tasks?channel_id=${a.id}`);
    expect(tasks.map((t) => t.id)).toEqual([a2.id, a1.id]);
    expect(tasks.every((t) => t.channel_id === a.id)).toBe(true);

    const { tasks: onlyB } = await callOk(TaskList, `/api/tasks?channel_id=${b.id}`);
    expect(onlyB.map((t) => t.id)).toEqual([b1.id]);
  });

  it("pages: limit caps a page, before (the last id seen) gives the next, and limit is at most 500", async () => {
    const ch = await createChannel();
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await createTask(ch.id));
    const ids = made.map((t) => t.id).reverse();
    const first = await callOk(TaskList, `/api/tasks?channel_id=${ch.id}&limit=2`);
    expect(first.tasks.map((t) => t.id)).toEqual(ids.slice(0, 2));
    const second = await callOk(TaskList, `/api/tasks?channel_id=${ch.id}&limit=2&before=${first.tasks.at(-1)!.id}`);
    expect(second.tasks.map((t) => t.id)).toEqual(ids.slice(2, 4));
    const last = await callOk(TaskList, `/api/tasks?channel_id=${ch.id}&limit=2&before=${second.tasks.at(-1)!.id}`);
    expect(last.tasks.map((t) => t.id)).toEqual(ids.slice(4));
    await expectError(await call(`/api/tasks?channel_id=${ch.id}&limit=501`), 422, { code: "invalid_request", field: "limit" });
  });

  it("filters by a channel's Discord id too", async () => {
    const { id, discordId } = await insertDiscordChannel();
    const task = await createTask(id);
    const { tasks } = await callOk(TaskList, `/api/tasks?channel_id=${discordId}`);
    expect(tasks.map((t) => t.id)).toEqual([task.id]);
  });

  it("lists every channel's tasks for an admin when no channel is named", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const ta = await createTask(a.id);
    const tb = await createTask(b.id);
    const ids = (await callOk(TaskList, "/api/tasks")).tasks.map((t) => t.id);
    expect(ids).toEqual(expect.arrayContaining([ta.id, tb.id]));
  });

  it("returns an empty list for a channel with no tasks", async () => {
    const channel = await createChannel();
    expect(await callOk(TaskList, `/api/tasks?channel_id=${channel.id}`)).toEqual({ tasks: [] });
  });

  it("answers 404 when filtering by a channel that does not exist", async () => {
    await expectError(await call("/api/tasks?channel_id=ch_nope"), 404, { code: "not_found" });
  });
});

describe("GET /api/tasks/:id", () => {
  it("returns the task with the same preview creation returned", async () => {
    const channel = await createChannel();
    const created = await createTask(channel.id, { type: "cron", schedule: "*/10 * * * *" });
    expect(await getTask(created.id)).toEqual(created);
  });
});

describe("GET /api/tasks/:id/next", () => {
  it("lists the requested number of upcoming times, starting at next_run_at, on the interval grid", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "interval", schedule: "5m" });
    const body = await callOk(NextList, `/api/tasks/${task.id}/next?count=5`);
    expect(body.task_id).toBe(task.id);
    expect(body.next).toHaveLength(5);
    expect(body.next[0]).toBe(task.next_run_at);
    expectStrictlyIncreasing(body.next);
    expect(body.next.map(ms)).toEqual([0, 1, 2, 3, 4].map((k) => ms(task.next_run_at) + k * 5 * MIN));
  });

  it("defaults to five times and honours count=1 and the maximum of 50", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 12 * * 1" });
    expect((await callOk(NextList, `/api/tasks/${task.id}/next`)).next).toHaveLength(5);
    expect((await callOk(NextList, `/api/tasks/${task.id}/next?count=1`)).next).toEqual([task.next_run_at]);
    const fifty = (await callOk(NextList, `/api/tasks/${task.id}/next?count=50`)).next;
    expect(fifty).toHaveLength(50);
    expectStrictlyIncreasing(fifty);
    // Weekly: 49 weeks between the first and the last.
    expect(ms(fifty[49]!) - ms(fifty[0]!)).toBe(49 * 7 * 24 * HOUR);
  });

  it("has a single time for a once task however many are asked for", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "once", schedule: "in 2h" });
    expect((await callOk(NextList, `/api/tasks/${task.id}/next?count=5`)).next).toEqual([task.next_run_at]);
  });
});

describe("PATCH /api/tasks/:id", () => {
  it("changes only the prompt, leaving the schedule and next run alone", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { prompt: "old prompt" });
    const updated = await patch(task.id, { prompt: "new prompt" });
    expect(updated).toMatchObject({ prompt: "new prompt", schedule: task.schedule, next_run_at: task.next_run_at });
    expect(updated.preview).toEqual(task.preview);
    expect(updated.created_at).toBe(task.created_at);
    expect(ms(updated.updated_at)).toBeGreaterThanOrEqual(ms(task.updated_at));
    expect((await taskRow(task.id))!.prompt).toBe("new prompt");
  });

  it("disabling clears next_run_at and the preview, and /next lists nothing", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    const updated = await patch(task.id, { enabled: false });
    expect(updated).toMatchObject({ enabled: false, next_run_at: null, preview: [] });
    expect(await getTask(task.id)).toMatchObject({ enabled: false, next_run_at: null, preview: [] });
    expect((await callOk(NextList, `/api/tasks/${task.id}/next`)).next).toEqual([]);
    expect(await taskRow(task.id)).toMatchObject({ enabled: false, nextRunAt: null });
  });

  it("re-enabling recomputes the next run from the time of re-enabling", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "interval", schedule: "1h" });
    await patch(task.id, { enabled: false });
    const before = Date.now();
    const updated = await patch(task.id, { enabled: true });
    expect(updated.enabled).toBe(true);
    expect(ms(updated.next_run_at)).toBe(ms(updated.updated_at) + HOUR);
    expect(ms(updated.next_run_at)).toBeGreaterThanOrEqual(before + HOUR);
    expect(updated.preview).toHaveLength(3);
    expect(updated.preview[0]).toBe(updated.next_run_at);
  });

  it("a schedule change recomputes the next run and stores the canonical form", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "interval", schedule: "5m" });
    const updated = await patch(task.id, { schedule: "90m" });
    expect(updated.schedule).toBe("1h30m");
    expect(ms(updated.next_run_at)).toBe(ms(updated.updated_at) + 90 * MIN);
    expect(updated.preview.map(ms)).toEqual([1, 2, 3].map((k) => ms(updated.updated_at) + k * 90 * MIN));
  });

  it("a cron expression change moves the next run to the new time of day", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *" });
    const updated = await patch(task.id, { schedule: "30 17 * * *" });
    expect(updated.schedule).toBe("30 17 * * *");
    expect(updated.preview.map((t) => t.slice(11))).toEqual(["17:30:00.000Z", "17:30:00.000Z", "17:30:00.000Z"]);
  });

  it("a tz change re-reads the cron expression in the new zone", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *" });
    const tokyo = await patch(task.id, { tz: "Asia/Tokyo" });
    expect(tokyo.tz).toBe("Asia/Tokyo");
    // Tokyo has no DST: 09:00 there is always 00:00Z.
    expect(tokyo.preview.map((t) => t.slice(11))).toEqual(["00:00:00.000Z", "00:00:00.000Z", "00:00:00.000Z"]);
    const utc = await patch(task.id, { tz: null });
    expect(utc.tz).toBeNull();
    expect(utc.preview.map((t) => t.slice(11))).toEqual(["09:00:00.000Z", "09:00:00.000Z", "09:00:00.000Z"]);
  });

  it("changing a cron task to an interval drops its time zone", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *", tz: "Europe/Berlin" });
    const updated = await patch(task.id, { type: "interval", schedule: "2h" });
    expect(updated).toMatchObject({ type: "interval", schedule: "2h", tz: null });
    expect(ms(updated.next_run_at)).toBe(ms(updated.updated_at) + 2 * HOUR);
    expect((await taskRow(task.id))!.tz).toBeNull();
  });

  it("changing an interval task to a once task stores the absolute time", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    const updated = await patch(task.id, { type: "once", schedule: "in 1h" });
    expect(updated.type).toBe("once");
    expect(ms(updated.next_run_at)).toBe(ms(updated.updated_at) + HOUR);
    expect(updated.schedule).toBe(updated.next_run_at);
    expect(updated.preview).toEqual([updated.next_run_at]);
  });

  it("refuses a type change without a new schedule, naming schedule, and changes nothing", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id, { type: "cron", schedule: "0 9 * * *" });
    const before = await taskRow(task.id);
    const res = await call(`/api/tasks/${task.id}`, { method: "PATCH", body: { type: "interval" } });
    await expectError(res, 422, { field: "schedule" });
    expect(await taskRow(task.id)).toEqual(before);
  });

  it("changing the schedule of a disabled task keeps it disabled with no next run", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    await patch(task.id, { enabled: false });
    const updated = await patch(task.id, { schedule: "2h" });
    expect(updated).toMatchObject({ enabled: false, schedule: "2h", next_run_at: null, preview: [] });
  });

  it("applies several fields in one request", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    const updated = await patch(task.id, { type: "cron", schedule: "0 6 * * *", tz: "UTC", prompt: "morning report" });
    expect(updated).toMatchObject({ type: "cron", schedule: "0 6 * * *", tz: "UTC", prompt: "morning report" });
    expect(updated.preview.map((t) => t.slice(11))).toEqual(["06:00:00.000Z", "06:00:00.000Z", "06:00:00.000Z"]);
  });

  it("answers 404 for a task that does not exist", async () => {
    await expectError(await call("/api/tasks/999999", { method: "PATCH", body: { prompt: "x" } }), 404, {
      code: "not_found",
    });
  });
});

describe("DELETE /api/tasks/:id", () => {
  it("deletes the task with 204 and an empty body; it is then 404 everywhere", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    const keep = await createTask(channel.id);

    const res = await call(`/api/tasks/${task.id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    await expectError(await call(`/api/tasks/${task.id}`), 404, { code: "not_found" });
    await expectError(await call(`/api/tasks/${task.id}/next`), 404, { code: "not_found" });
    await expectError(await call(`/api/tasks/${task.id}`, { method: "DELETE" }), 404, { code: "not_found" });
    expect(await taskRow(task.id)).toBeUndefined();
    // Its sibling is untouched.
    expect((await callOk(TaskList, `/api/tasks?channel_id=${channel.id}`)).tasks.map((t) => t.id)).toEqual([keep.id]);
  });
});
