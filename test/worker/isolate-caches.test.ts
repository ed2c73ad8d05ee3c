/**
 * What the Worker keeps per isolate to save CPU (issue 19) is keyed so it cannot leak: the
 * drizzle instance per D1 binding; croner's parsed patterns and next occurrences per
 * (expression, zone). (The MCP tool table's per-request scoping is tested in
 * mcp.test.ts; the Ed25519 key cache in discord-signature.test.ts.)
 */
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Cron } from "croner";
import { db } from "../../core/db/client.ts";
import { loadChannel } from "../../core/domain/channels.ts";
import type { DomainContext } from "../../core/domain/context.ts";
import { createTask, listTasks, loadTask } from "../../core/domain/tasks.ts";
import { config } from "../../core/env.ts";
import { cronCacheSizes, nextOccurrence, parseSchedule, previewOccurrences, type Schedule } from "../../core/domain/schedule-grammar.ts";

const cron = (expr: string, tz: string | null): Schedule => ({ type: "cron", expr, tz });

/** Another D1 binding (another environment's database) over the same data, recording each SQL it prepares. */
const otherBinding = (calls: string[]): D1Database =>
  ({
    prepare: (sql: string) => {
      calls.push(sql);
      return env.DB.prepare(sql);
    },
    batch: env.DB.batch.bind(env.DB),
    exec: env.DB.exec.bind(env.DB),
    dump: () => Promise.reject(new Error("unused")),
    withSession: env.DB.withSession.bind(env.DB),
  }) as unknown as D1Database;

describe("per-isolate caches", () => {
  it("one drizzle instance per D1 binding: the same binding shares it, another binding gets its own", async () => {
    expect(db(env.DB)).toBe(db(env.DB));
    const calls: string[] = [];
    const other = otherBinding(calls);
    expect(db(other)).not.toBe(db(env.DB));
    expect(db(other)).toBe(db(other));
    await db(other).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
    // The shared instance still goes to its own binding, not the other one.
    await db(env.DB).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
  });
});

describe("prepared statements per D1 binding (tasks, channels)", () => {
  const ctxOf = (d1: D1Database, actor: DomainContext["actor"] = { kind: "admin", tokenId: null }): DomainContext => ({ db: db(d1), env, cfg: config(env), actor });
  const admin = ctxOf(env.DB);

  async function channelWithTasks(n: number) {
    const dir = `/srv/prepared-${crypto.randomUUID()}`;
    const res = await SELF.fetch("http://loop.test/api/channels", { method: "POST", headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ dir_path: dir }) });
    const { id } = (await res.json()) as { id: string };
    const tasks = [];
    for (let i = 0; i < n; i++) tasks.push(await createTask(admin, { channel_id: id, type: "interval", schedule: `${i + 1}h`, prompt: `task ${i} of ${id}` }));
    return { id, tasks };
  }

  it("concurrent calls each get their own parameters' rows", async () => {
    const [a, b] = await Promise.all([channelWithTasks(3), channelWithTasks(2)]);
    const [ta, tb, ca, cb, la, lb] = await Promise.all([
      loadTask(admin, a.tasks[0]!.id),
      loadTask(admin, b.tasks[1]!.id),
      loadChannel(admin, a.id),
      loadChannel(admin, b.id),
      listTasks(admin, a.id),
      listTasks(admin, b.id, { limit: 1 }),
    ]);
    expect([ta.prompt, tb.prompt]).toEqual([`task 0 of ${a.id}`, `task 1 of ${b.id}`]);
    expect([ca.id, cb.id]).toEqual([a.id, b.id]);
    expect(la.map((t) => t.prompt)).toEqual([2, 1, 0].map((i) => `task ${i} of ${a.id}`));
    expect(lb.map((t) => t.prompt)).toEqual([`task 1 of ${b.id}`]);
  });

  it("a token scoped to one channel still cannot read another's through the shared statements", async () => {
    const [mine, theirs] = await Promise.all([channelWithTasks(1), channelWithTasks(1)]);
    const scoped = ctxOf(env.DB, { kind: "channels", tokenId: "tok_test", channelIds: [mine.id] });
    expect((await loadTask(scoped, mine.tasks[0]!.id)).channelId).toBe(mine.id);
    await expect(loadTask(scoped, theirs.tasks[0]!.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(loadChannel(scoped, theirs.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(listTasks(scoped, theirs.id)).rejects.toMatchObject({ code: "not_found" });
  });

  it("another binding prepares its own statements and reads through its own database", async () => {
    const { id, tasks } = await channelWithTasks(1);
    const calls: string[] = [];
    const other = otherBinding(calls);
    await loadTask(admin, tasks[0]!.id); // the shared binding's statements exist already
    expect((await loadTask(ctxOf(other), tasks[0]!.id)).id).toBe(tasks[0]!.id);
    expect((await loadChannel(ctxOf(other), id)).id).toBe(id);
    expect(calls.length).toBeGreaterThan(0);
    const seen = calls.length;
    // Prepared once: the same binding's next reads prepare nothing new.
    await loadTask(ctxOf(other), tasks[0]!.id);
    await loadChannel(ctxOf(other), id);
    expect(calls).toHaveLength(seen);
  });
});

describe("per-isolate cron caches (schedule-grammar)", () => {
  const WEEKDAYS_9 = "0 9 * * 1-5";
  // Fresh croner answers, built the way the grammar built them before the caches.
  const fresh = (expr: string, tz: string, after: number) =>
    new Cron(expr, { paused: true, mode: "5-part", timezone: tz }).nextRun(new Date(after))?.getTime() ?? null;

  it("a cached pattern answers as a fresh one, and each (expression, zone) keeps its own", () => {
    const after = Date.parse("2026-03-27T12:00:00Z"); // the Friday before Europe's spring DST change
    const berlin = cron(WEEKDAYS_9, "Europe/Berlin");
    const tokyo = cron(WEEKDAYS_9, "Asia/Tokyo");
    // Twice each: the second answer comes from the caches.
    for (let i = 0; i < 2; i++) {
      expect(nextOccurrence(berlin, after)).toBe(fresh(WEEKDAYS_9, "Europe/Berlin", after));
      expect(previewOccurrences(berlin, 4, after)).toEqual([1, 2, 3, 4].reduce<number[]>((acc) => [...acc, fresh(WEEKDAYS_9, "Europe/Berlin", acc.at(-1) ?? after)!], []));
      expect(previewOccurrences(tokyo, 4, after)).toEqual([1, 2, 3, 4].reduce<number[]>((acc) => [...acc, fresh(WEEKDAYS_9, "Asia/Tokyo", acc.at(-1) ?? after)!], []));
    }
    // The same expression in two zones is two patterns, not one: 09:00 Berlin is not 09:00 Tokyo.
    expect(nextOccurrence(berlin, after)).not.toBe(nextOccurrence(tokyo, after));
    // And UTC (no zone) is a third.
    expect(nextOccurrence(cron(WEEKDAYS_9, null), after)).toBe(Date.parse("2026-03-30T09:00:00Z"));
    // The occurrence across the DST change is still 09:00 local (07:00 UTC from March 30).
    expect(new Date(previewOccurrences(berlin, 1, Date.parse("2026-03-27T08:00:00Z"))[0]!).toISOString()).toBe("2026-03-30T07:00:00.000Z");
  });

  it("an invalid pattern is refused every time, never cached as valid", () => {
    for (let i = 0; i < 2; i++) {
      expect(() => parseSchedule({ type: "cron", schedule: "61 9 * * *", tz: "Europe/Berlin" }, { now: Date.now(), minIntervalMs: 60_000 })).toThrow(/not a valid cron expression/);
    }
  });

  it("stays bounded however many distinct patterns arrive", () => {
    const after = Date.parse("2026-06-01T00:00:00Z");
    for (let m = 0; m < 60; m++) {
      for (const h of [1, 2, 3]) previewOccurrences(cron(`${m} ${h} * * *`, "UTC"), 3, after);
    }
    const { patterns, nexts } = cronCacheSizes();
    expect(patterns).toBeLessThanOrEqual(100);
    expect(nexts).toBeLessThanOrEqual(500);
    // Evicted patterns still answer right when they come back.
    expect(nextOccurrence(cron("0 1 * * *", "UTC"), after)).toBe(Date.parse("2026-06-01T01:00:00Z"));
  });
});
