/**
 * What the Worker keeps per isolate to save CPU (issue 19) is keyed so it cannot leak: the
 * drizzle instance per D1 binding; croner's parsed patterns and next occurrences per
 * (expression, zone). (The MCP tool table's per-request scoping is tested in
 * mcp.test.ts; the Ed25519 key cache in discord-signature.test.ts.)
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Cron } from "croner";
import { db } from "../../core/db/client.ts";
import { cronCacheSizes, nextOccurrence, parseSchedule, previewOccurrences, type Schedule } from "../../core/domain/schedule-grammar.ts";

const cron = (expr: string, tz: string | null): Schedule => ({ type: "cron", expr, tz });

describe("per-isolate caches", () => {
  it("one drizzle instance per D1 binding: the same binding shares it, another binding gets its own", async () => {
    expect(db(env.DB)).toBe(db(env.DB));
    // Another binding (another environment's database): a D1Database of its own.
    const calls: string[] = [];
    const other = {
      prepare: (sql: string) => {
        calls.push(sql);
        return env.DB.prepare(sql);
      },
      batch: env.DB.batch.bind(env.DB),
      exec: env.DB.exec.bind(env.DB),
      dump: () => Promise.reject(new Error("unused")),
      withSession: env.DB.withSession.bind(env.DB),
    } as unknown as D1Database;
    expect(db(other)).not.toBe(db(env.DB));
    expect(db(other)).toBe(db(other));
    await db(other).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
    // The shared instance still goes to its own binding, not the other one.
    await db(env.DB).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
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
