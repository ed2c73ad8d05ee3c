import { createScheduledController, env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../worker/index.ts";
import { SWEEP_CHANNEL_BATCH } from "../../core/domain/sweep.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };
let dirs = 0;

async function api(method: string, path: string, body?: unknown) {
  const res = await SELF.fetch(`http://loop.test${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as any) };
}

async function channel(): Promise<string> {
  const { body } = await api("POST", "/api/channels", { dir_path: `/srv/sched-${++dirs}-${crypto.randomUUID()}` });
  return body.id;
}

async function task(channelId: string, schedule: string, type = "interval", extra: object = {}) {
  const { status, body } = await api("POST", "/api/tasks", { channel_id: channelId, schedule, type, prompt: "check the queue", ...extra });
  expect(status).toBe(201);
  return body;
}

const session = (channelId: string) => env.CHANNEL_SESSION.getByName(channelId);
const alarmOf = (channelId: string) => runInDurableObject(session(channelId), (_o, state) => state.storage.getAlarm());

/** Makes the task due `ago` ms ago, as if its alarm had not fired yet. */
async function makeDue(taskId: number, ago: number): Promise<number> {
  const at = Date.now() - ago;
  await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(at, taskId).run();
  return at;
}

async function runsOf(taskId: number) {
  const { results } = await env.DB.prepare("SELECT * FROM runs WHERE task_id = ? ORDER BY id").bind(taskId).all<any>();
  return results;
}
const taskRow = (id: number) => env.DB.prepare("SELECT * FROM tasks WHERE id = ?").bind(id).first<any>();

async function runSweep(at = Date.now()) {
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: "* * * * *" }), env);
}

describe("alarms", () => {
  it("creating a task arms the channel's alarm at its next_run_at", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    expect(await alarmOf(ch)).toBe(Date.parse(t.next_run_at));
  });

  it("the alarm sits at the earliest task of the channel", async () => {
    const ch = await channel();
    await task(ch, "2h");
    const soon = await task(ch, "5m");
    expect(await alarmOf(ch)).toBe(Date.parse(soon.next_run_at));
  });

  it("edits, toggles and deletes re-arm the alarm", async () => {
    const ch = await channel();
    const t = await task(ch, "1h");
    const edited = await api("PATCH", `/api/tasks/${t.id}`, { schedule: "15m" });
    expect(await alarmOf(ch)).toBe(Date.parse(edited.body.next_run_at));
    await api("PATCH", `/api/tasks/${t.id}`, { enabled: false });
    expect(await alarmOf(ch)).toBeNull();
    const again = await api("PATCH", `/api/tasks/${t.id}`, { enabled: true });
    expect(await alarmOf(ch)).toBe(Date.parse(again.body.next_run_at));
    await api("DELETE", `/api/tasks/${t.id}`);
    expect(await alarmOf(ch)).toBeNull();
  });

  it("re-arms only when a write moves the earliest due time: the alarm always follows it", async () => {
    const ch = await channel();
    const first = await task(ch, "1h");
    expect(await alarmOf(ch)).toBe(Date.parse(first.next_run_at));
    // A marker alarm shows whether a write reached the ChannelSession: a re-arm replaces it.
    const marker = Date.now() + 7 * 86_400_000;
    const mark = () => runInDurableObject(session(ch), (_o, state) => state.storage.setAlarm(marker));
    await mark();
    // Behind the earliest task, a new task or an edit leaves the earliest (and the alarm) alone.
    const later = await task(ch, "3h");
    await api("PATCH", `/api/tasks/${later.id}`, { prompt: "check the queue twice", schedule: "2h" });
    await api("PATCH", `/api/tasks/${first.id}`, { prompt: "a new prompt, same schedule" });
    expect(await alarmOf(ch)).toBe(marker);
    // A task before it moves the earliest: re-armed.
    const sooner = await task(ch, "10m");
    expect(await alarmOf(ch)).toBe(Date.parse(sooner.next_run_at));
    // Disabling the earliest moves it later; moving a later task in front moves it sooner.
    await mark();
    await api("PATCH", `/api/tasks/${sooner.id}`, { enabled: false });
    expect(await alarmOf(ch)).toBe(Date.parse(first.next_run_at));
    const front = await api("PATCH", `/api/tasks/${later.id}`, { schedule: "5m" });
    expect(await alarmOf(ch)).toBe(Date.parse(front.body.next_run_at));
    // Deleting a task behind the earliest leaves the alarm; deleting the earliest moves it.
    await mark();
    await api("DELETE", `/api/tasks/${sooner.id}`);
    expect(await alarmOf(ch)).toBe(marker);
    await api("DELETE", `/api/tasks/${later.id}`);
    expect(await alarmOf(ch)).toBe(Date.parse(first.next_run_at));
  });

  it("fires a due interval task once, queued, and schedules the next from the scheduled time", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    const scheduledFor = await makeDue(t.id, 1_000);
    expect(await runDurableObjectAlarm(session(ch))).toBe(true);

    const runs = await runsOf(t.id);
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: "queued", trigger: "schedule", scheduled_for: scheduledFor, missed_count: 0, fired_by: "alarm", channel_id: ch, prompt: "check the queue" });
    expect(runs[0].late_ms).toBeGreaterThanOrEqual(1_000);
    const row = await taskRow(t.id);
    expect(row.next_run_at).toBe(scheduledFor + 10 * 60_000);
    expect(await alarmOf(ch)).toBe(row.next_run_at);
  });

  it("a doubled alarm creates one run", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    await makeDue(t.id, 500);
    await runDurableObjectAlarm(session(ch));
    // Force a second alarm run for the same occurrence.
    await runInDurableObject(session(ch), (_o, state) => state.storage.setAlarm(Date.now()));
    await runDurableObjectAlarm(session(ch));
    expect(await runsOf(t.id)).toHaveLength(1);
  });

  it("an alarm racing the sweep for the same occurrence creates one run", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    await makeDue(t.id, 120_000);
    await Promise.all([runDurableObjectAlarm(session(ch)), session(ch).fire(ch, "sweep"), runSweep()]);
    expect(await runsOf(t.id)).toHaveLength(1);
  });

  it("missed occurrences collapse into one run marked late", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    const scheduledFor = await makeDue(t.id, 35 * 60_000); // 4 occurrences have passed
    await runDurableObjectAlarm(session(ch));
    const runs = await runsOf(t.id);
    expect(runs).toHaveLength(1);
    expect(runs[0].missed_count).toBe(3);
    expect(runs[0].late_ms).toBeGreaterThanOrEqual(35 * 60_000);
    const row = await taskRow(t.id);
    expect(row.next_run_at).toBe(scheduledFor + 4 * 10 * 60_000);
    expect(row.next_run_at).toBeGreaterThan(Date.now());
  });

  it("a once task fires, is disabled and kept", async () => {
    const ch = await channel();
    const t = await task(ch, "in 5m", "once");
    await makeDue(t.id, 10);
    await runDurableObjectAlarm(session(ch));
    expect(await runsOf(t.id)).toHaveLength(1);
    const row = await taskRow(t.id);
    expect(row).toMatchObject({ enabled: 0, next_run_at: null });
    expect(await alarmOf(ch)).toBeNull();
  });

  it("a cron task in a time zone advances to the next local wall-clock time across spring-forward", async () => {
    const ch = await channel();
    const t = await task(ch, "30 2 * * *", "cron", { tz: "Europe/Berlin" });
    // 02:30 Berlin on 2026-03-28 (CET, UTC+1) is 01:30Z. Make it due and fire.
    await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(Date.parse("2026-03-28T01:30:00Z"), t.id).run();
    await runDurableObjectAlarm(session(ch));
    const runs = await runsOf(t.id);
    expect(runs).toHaveLength(1);
    expect(runs[0].scheduled_for).toBe(Date.parse("2026-03-28T01:30:00Z"));
    // All later days up to now collapse; the next one is at 02:30 local, today or tomorrow.
    const next = new Date((await taskRow(t.id)).next_run_at);
    const local = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", hour: "2-digit", minute: "2-digit" }).format(next);
    expect(local).toBe("02:30");
  });

  it("a task that cannot be fired does not stop the channel's other tasks", async () => {
    const ch = await channel();
    const broken = await task(ch, "10m");
    const healthy = await task(ch, "10m");
    await makeDue(broken.id, 2_000);
    await makeDue(healthy.id, 1_000);
    await env.DB.prepare("UPDATE tasks SET type = 'cron', schedule = 'not a cron' WHERE id = ?").bind(broken.id).run();
    await runDurableObjectAlarm(session(ch));
    expect(await runsOf(healthy.id)).toHaveLength(1);
    expect(await runsOf(broken.id)).toHaveLength(0);
    // The broken task is still due: the alarm retries later instead of spinning.
    const alarm = await alarmOf(ch);
    expect(alarm).toBeGreaterThan(Date.now() + 10_000);
  });
});

describe("sweep (Cron Trigger)", () => {
  it("fires tasks whose alarm fell behind, marks them, and health counts the rescue", async () => {
    const before = (await api("GET", "/api/health")).body.sweep_rescued_last_hour;
    const ch = await channel();
    const t = await task(ch, "10m");
    await makeDue(t.id, 5 * 60_000);
    await runSweep();
    const runs = await runsOf(t.id);
    expect(runs).toHaveLength(1);
    expect(runs[0].fired_by).toBe("sweep");
    expect((await api("GET", "/api/health")).body.sweep_rescued_last_hour).toBe(before + 1);
    expect(await alarmOf(ch)).toBe((await taskRow(t.id)).next_run_at);
  });

  it("leaves tasks within the grace period to their alarm", async () => {
    const ch = await channel();
    const t = await task(ch, "10m");
    await makeDue(t.id, 5_000);
    await runSweep();
    expect(await runsOf(t.id)).toHaveLength(0);
  });

  it("a failing channel does not stop other channels being rescued", async () => {
    const bad = await channel();
    const good = await channel();
    const b = await task(bad, "10m");
    const g = await task(good, "10m");
    await makeDue(b.id, 5 * 60_000);
    await makeDue(g.id, 5 * 60_000);
    await env.DB.prepare("UPDATE tasks SET type = 'cron', schedule = 'not a cron' WHERE id = ?").bind(b.id).run();
    await runSweep();
    expect(await runsOf(g.id)).toHaveLength(1);
  });

  it("repairs at most SWEEP_CHANNEL_BATCH channels per sweep; the next sweep takes the rest, each once", async () => {
    const overdue: number[] = [];
    for (let i = 0; i < SWEEP_CHANNEL_BATCH + 3; i++) {
      const t = await task(await channel(), "10m");
      await makeDue(t.id, 5 * 60_000);
      overdue.push(t.id);
    }
    const fired = async () => (await Promise.all(overdue.map(runsOf))).map((r) => r.length);
    await runSweep();
    const first = await fired();
    expect(first.filter((n) => n === 1).length).toBeLessThanOrEqual(SWEEP_CHANNEL_BATCH);
    expect(first.filter((n) => n === 0).length).toBeGreaterThan(0);
    await runSweep();
    expect(await fired()).toEqual(overdue.map(() => 1));
  }, 120_000);

  it("prunes run events older than the retention", async () => {
    const ch = await channel();
    const old = Date.now() - 31 * 86_400_000;
    const run = await env.DB.prepare("INSERT INTO runs (channel_id, trigger, prompt, created_at) VALUES (?, 'api', 'x', ?) RETURNING id").bind(ch, old).first<{ id: number }>();
    await env.DB.batch([
      env.DB.prepare("INSERT INTO run_events (run_id, seq, type, payload, at) VALUES (?, 1, 'text', '{}', ?)").bind(run!.id, old),
      env.DB.prepare("INSERT INTO run_events (run_id, seq, type, payload, at) VALUES (?, 2, 'text', '{}', ?)").bind(run!.id, Date.now()),
    ]);
    await runSweep();
    const { results } = await env.DB.prepare("SELECT seq FROM run_events WHERE run_id = ?").bind(run!.id).all<{ seq: number }>();
    expect(results.map((r) => r.seq)).toEqual([2]);
  });
});

describe("templates", () => {
  it("adding the same template twice to a channel is a no-op", async () => {
    const put = await api("PUT", "/api/templates/daily-summary", { description: "Daily summary", schedule: "0 17 * * *", type: "cron", prompt: "Summarise today's work." });
    expect(put.status).toBe(201);
    const ch = await channel();
    const first = await api("POST", `/api/channels/${ch}/templates`, { name: "daily-summary" });
    const second = await api("POST", `/api/channels/${ch}/templates`, { name: "daily-summary" });
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    expect(first.body).toMatchObject({ template_name: "daily-summary", schedule: "0 17 * * *", type: "cron" });
    const list = await api("GET", `/api/tasks?channel_id=${ch}`);
    expect(list.body.tasks).toHaveLength(1);
  });

  it("refuses a template with a bad schedule and an unknown template name", async () => {
    const bad = await api("PUT", "/api/templates/broken", { schedule: "61 * * * *", type: "cron", prompt: "x" });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("schedule");
    const ch = await channel();
    const unknown = await api("POST", `/api/channels/${ch}/templates`, { name: "nope" });
    expect(unknown.status).toBe(404);
  });
});
