/**
 * The schedule grammar, called directly: what each type accepts and refuses, how cron reads
 * time zones across DST, and how a late task collapses the occurrences it missed.
 */
import { describe, expect, it } from "vitest";
import { AppError } from "../../core/errors.ts";
import {
  advance,
  canonicalSchedule,
  formatInterval,
  nextOccurrence,
  parseDuration,
  parseSchedule,
  previewOccurrences,
  type Schedule,
  type ScheduleInput,
} from "../../core/domain/schedule-grammar.ts";

const NOW = Date.parse("2026-06-01T12:00:00Z");
const OPTS = { now: NOW, minIntervalMs: 60_000 };
const MIN = 60_000;
const HOUR = 3_600_000;

const parse = (input: ScheduleInput, opts = OPTS) => parseSchedule(input, opts);
const isoList = (ms: number[]) => ms.map((t) => new Date(t).toISOString());

/** Parses expecting a refusal, and checks what every refusal must carry. */
function refusal(input: ScheduleInput, opts = OPTS): AppError {
  let caught: unknown;
  try {
    parseSchedule(input, opts);
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${JSON.stringify(input)} to be refused`).toBeInstanceOf(AppError);
  const err = caught as AppError;
  expect(err.status).toBe(422);
  expect(err.field).toMatch(/^(schedule|tz)$/);
  expect(err.message).toContain("Example");
  return err;
}

/** Wall-clock time of `ms` in `tz` as "YYYY-MM-DD HH:mm". */
function local(ms: number, tz: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: tz,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}`;
}

const cron = (expr: string, tz: string | null = null): Schedule => parse({ type: "cron", schedule: expr, tz });

describe("cron schedules", () => {
  it("accepts five fields and stores them single-spaced, in UTC unless a tz is given", () => {
    expect(parse({ type: "cron", schedule: "  0  9 * *   1-5 " })).toEqual({ type: "cron", expr: "0 9 * * 1-5", tz: null });
    expect(parse({ type: "cron", schedule: "*/15 * * * *", tz: "Europe/Berlin" })).toEqual({
      type: "cron",
      expr: "*/15 * * * *",
      tz: "Europe/Berlin",
    });
  });

  it.each([
    ["four fields", "0 9 * *", 4],
    ["six fields (a seconds column)", "0 0 9 * * *", 6],
    ["seven fields", "0 0 9 * * * 2026", 7],
    ["a nickname", "@daily", 1],
  ])("refuses %s, saying how many fields it got", (_name, expr, got) => {
    const err = refusal({ type: "cron", schedule: expr });
    expect(err.field).toBe("schedule");
    expect(err.message).toContain("5 fields");
    expect(err.message).toContain(`got ${got}`);
  });

  it.each([
    ["minute 61", "61 * * * *"],
    ["hour 24", "* 24 * * *"],
    ["day of month 32", "* * 32 * *"],
    ["day of month 0", "* * 0 * *"],
    ["month 13", "* * * 13 *"],
    ["day of week 8", "* * * * 8"],
    ["a zero step", "*/0 * * * *"],
    ["letters", "a b c d e"],
    ["a half-open range", "1- * * * *"],
  ])("refuses %s as an invalid expression", (_name, expr) => {
    const err = refusal({ type: "cron", schedule: expr });
    expect(err.field).toBe("schedule");
    expect(err.message).toContain(expr);
  });

  it.each(["Mars/Olympus", "Europe/Berln", "GMT+25"])("refuses the time zone %s, naming the tz field", (tz) => {
    const err = refusal({ type: "cron", schedule: "0 9 * * *", tz });
    expect(err.field).toBe("tz");
    expect(err.message).toContain(tz);
  });

  it.each(["interval", "once"] as const)("refuses a tz on a %s schedule", (type) => {
    const schedule = type === "interval" ? "5m" : "in 10m";
    const err = refusal({ type, schedule, tz: "Europe/Berlin" });
    expect(err.field).toBe("tz");
    // The same schedule without the tz is fine: it is the tz that was refused.
    expect(parse({ type, schedule }).type).toBe(type);
  });

  it("refuses an empty or blank schedule", () => {
    expect(refusal({ type: "cron", schedule: "" }).field).toBe("schedule");
    expect(refusal({ type: "cron", schedule: "   " }).field).toBe("schedule");
  });
});

describe("interval schedules", () => {
  it.each([
    ["5m", 5 * MIN],
    ["1h30m", 90 * MIN],
    ["1.5h", 90 * MIN],
    ["2h45m", 165 * MIN],
    ["90s", 90_000],
    ["1m", MIN],
  ])("reads %s as a Go duration", (text, ms) => {
    expect(parse({ type: "interval", schedule: text })).toEqual({ type: "interval", everyMs: ms });
  });

  it("refuses 30s as below the one-minute minimum, which is a configured floor, not syntax", () => {
    const err = refusal({ type: "interval", schedule: "30s" });
    expect(err.field).toBe("schedule");
    expect(err.message).toContain("minimum");
    expect(parse({ type: "interval", schedule: "30s" }, { now: NOW, minIntervalMs: 1000 })).toEqual({
      type: "interval",
      everyMs: 30_000,
    });
  });

  it.each(["5x", "m5", "", "5", "-5m", "1h 30m", "1d", "five minutes", "5m30"])(
    "refuses %j as not a duration",
    (text) => {
      expect(refusal({ type: "interval", schedule: text }).field).toBe("schedule");
    },
  );

  it("stores an interval in its shortest canonical form", () => {
    expect(canonicalSchedule(parse({ type: "interval", schedule: "90m" }))).toBe("1h30m");
    expect(canonicalSchedule(parse({ type: "interval", schedule: "1.5h" }))).toBe("1h30m");
  });
});

describe("once schedules", () => {
  it.each([
    ["UTC with Z", "2026-12-01T09:00:00Z", "2026-12-01T09:00:00.000Z"],
    ["a positive offset", "2026-12-01T09:00:00+01:00", "2026-12-01T08:00:00.000Z"],
    ["a negative half-hour offset", "2026-12-01T09:00:00-05:30", "2026-12-01T14:30:00.000Z"],
    ["fractional seconds", "2026-12-01T09:00:00.250Z", "2026-12-01T09:00:00.250Z"],
    ["a lower-case z", "2026-12-01T09:00:00z", "2026-12-01T09:00:00.000Z"],
  ])("reads an RFC 3339 time with %s as an absolute UTC time", (_name, text, want) => {
    const s = parse({ type: "once", schedule: text });
    expect(s.type).toBe("once");
    expect(canonicalSchedule(s)).toBe(want);
  });

  it.each([
    ["in 10m", 10 * MIN],
    ["in 1h30m", 90 * MIN],
    ["IN 2h", 2 * HOUR],
  ])("reads the relative time %j from now", (text, ms) => {
    expect(parse({ type: "once", schedule: text })).toEqual({ type: "once", at: NOW + ms });
  });

  it.each([
    ["a second ago", "2026-06-01T11:59:59Z"],
    ["exactly now", "2026-06-01T12:00:00Z"],
    ["last year", "2025-06-01T12:00:00Z"],
    ["now, written in another offset", "2026-06-01T14:00:00+02:00"],
  ])("refuses a time in the past (%s)", (_name, text) => {
    const err = refusal({ type: "once", schedule: text });
    expect(err.field).toBe("schedule");
    expect(err.message).toContain("past");
  });

  it.each([
    ["a word", "tomorrow"],
    ["a bare date", "2026-12-01"],
    ["a time without an offset", "2026-12-01T09:00:00"],
    ["an offset without a colon", "2026-12-01T09:00:00+0100"],
    ["epoch milliseconds", "1796115600000"],
    ["an English date", "December 1, 2026 09:00 UTC"],
    ["a zero relative time", "in 0m"],
    ["a relative time that is not a duration", "in a while"],
  ])("refuses %s", (_name, text) => {
    expect(refusal({ type: "once", schedule: text }).field).toBe("schedule");
  });

  it.each([
    ["November 31st", "2026-11-31T09:00:00Z"],
    ["February 30th", "2027-02-30T09:00:00Z"],
    ["April 31st", "2027-04-31T09:00:00Z"],
    ["February 29th of a common year", "2027-02-29T09:00:00Z"],
    ["month 13", "2026-13-01T09:00:00Z"],
    ["hour 24", "2026-12-01T24:00:00Z"],
    ["hour 25", "2026-12-01T25:00:00Z"],
    ["minute 60", "2026-12-01T09:60:00Z"],
  ])("refuses a calendar time that does not exist (%s) instead of rolling it over", (_name, text) => {
    expect(refusal({ type: "once", schedule: text }).field).toBe("schedule");
  });

  it("accepts February 29th of a leap year", () => {
    expect(canonicalSchedule(parse({ type: "once", schedule: "2028-02-29T09:00:00Z" }))).toBe("2028-02-29T09:00:00.000Z");
  });
});

describe("previewing cron occurrences", () => {
  it("lists weekday mornings in UTC, skipping the weekend", () => {
    // 2026-07-03 is a Friday; after 10:00 the next weekday 09:00 is Monday.
    const next = previewOccurrences(cron("0 9 * * 1-5"), 3, Date.parse("2026-07-03T10:00:00Z"));
    expect(isoList(next)).toEqual(["2026-07-06T09:00:00.000Z", "2026-07-07T09:00:00.000Z", "2026-07-08T09:00:00.000Z"]);
  });

  it("reads the fields in the task's time zone, following its offset through the year", () => {
    const ny = cron("0 9 * * *", "America/New_York");
    expect(isoList(previewOccurrences(ny, 2, Date.parse("2026-07-01T00:00:00Z")))).toEqual([
      "2026-07-01T13:00:00.000Z",
      "2026-07-02T13:00:00.000Z",
    ]);
    expect(isoList(previewOccurrences(ny, 2, Date.parse("2026-01-05T00:00:00Z")))).toEqual([
      "2026-01-05T14:00:00.000Z",
      "2026-01-06T14:00:00.000Z",
    ]);
  });

  it("returns occurrences strictly after the cursor, never the cursor itself", () => {
    const at = Date.parse("2026-07-01T09:00:00Z");
    expect(previewOccurrences(cron("0 9 * * *"), 1, at)).toEqual([at + 24 * HOUR]);
  });

  it("fires a 02:30 Berlin job once at 03:00 local on the spring-forward day, and at 02:30 around it", () => {
    const berlin = cron("30 2 * * *", "Europe/Berlin");
    const next = previewOccurrences(berlin, 3, Date.parse("2026-03-27T12:00:00Z"));
    expect(isoList(next)).toEqual(["2026-03-28T01:30:00.000Z", "2026-03-29T01:00:00.000Z", "2026-03-30T00:30:00.000Z"]);
    expect(next.map((t) => local(t, "Europe/Berlin"))).toEqual([
      "2026-03-28 02:30",
      "2026-03-29 03:00",
      "2026-03-30 02:30",
    ]);
  });

  it("fires a 02:30 Berlin job once on the fall-back day, at the first 02:30", () => {
    const berlin = cron("30 2 * * *", "Europe/Berlin");
    const next = previewOccurrences(berlin, 3, Date.parse("2026-10-23T12:00:00Z"));
    // 02:30 happens twice on 25 October (00:30Z in CEST, 01:30Z in CET); only the first fires.
    expect(isoList(next)).toEqual(["2026-10-24T00:30:00.000Z", "2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"]);
    expect(next.filter((t) => local(t, "Europe/Berlin").startsWith("2026-10-25"))).toHaveLength(1);
  });

  it("fires an hourly Berlin job every real hour across the fall-back hour: no gap, no duplicate", () => {
    const hourly = cron("0 * * * *", "Europe/Berlin");
    const next = previewOccurrences(hourly, 5, Date.parse("2026-10-24T22:30:00Z"));
    expect(isoList(next)).toEqual([
      "2026-10-24T23:00:00.000Z",
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T03:00:00.000Z",
    ]);
    // Wildcard-hour jobs follow the clock: the repeated 02:00 runs in both offsets.
    expect(next.map((t) => local(t, "Europe/Berlin").slice(11))).toEqual(["01:00", "02:00", "02:00", "03:00", "04:00"]);
  });

  it("fires an hourly Berlin job every real hour across the spring-forward gap, never at the missing 02:00", () => {
    const next = previewOccurrences(cron("0 * * * *", "Europe/Berlin"), 4, Date.parse("2026-03-28T23:30:00Z"));
    expect(next.slice(1).map((t, i) => t - next[i]!)).toEqual([HOUR, HOUR, HOUR]);
    expect(next.map((t) => local(t, "Europe/Berlin").slice(11))).toEqual(["01:00", "03:00", "04:00", "05:00"]);
  });

  it("gives an interval's occurrences on the grid of its start and a once task's single time", () => {
    const start = Date.parse("2026-06-01T12:00:07Z");
    expect(previewOccurrences({ type: "interval", everyMs: 90 * MIN }, 3, start)).toEqual([
      start + 90 * MIN,
      start + 180 * MIN,
      start + 270 * MIN,
    ]);
    const at = Date.parse("2026-12-01T09:00:00Z");
    expect(previewOccurrences({ type: "once", at }, 3, NOW)).toEqual([at]);
    expect(nextOccurrence({ type: "once", at }, at)).toBeNull();
  });
});

describe("advancing a late task", () => {
  const five = { type: "interval", everyMs: 5 * MIN } as const;
  const S = Date.parse("2026-06-01T10:00:00Z");

  it("moves an on-time interval one step and reports nothing missed", () => {
    expect(advance(five, S, S)).toEqual({ next: S + 5 * MIN, missed: 0 });
    expect(advance(five, S, S + 4 * MIN)).toEqual({ next: S + 5 * MIN, missed: 0 });
  });

  it("collapses the intervals missed during an outage into one, keeping the original grid", () => {
    expect(advance(five, S, S + 17 * MIN)).toEqual({ next: S + 20 * MIN, missed: 3 });
  });

  it("treats an occurrence due exactly now as missed and arms the one after it", () => {
    expect(advance(five, S, S + 15 * MIN)).toEqual({ next: S + 20 * MIN, missed: 3 });
  });

  it.each([1, 59_999, 5 * MIN + 1, 3 * HOUR + 7, 7 * 24 * HOUR + 123])(
    "after a delay of %i ms, arms the first grid point in the future and counts the ones skipped",
    (delay) => {
      const { next, missed } = advance(five, S, S + delay);
      expect(next).toBeGreaterThan(S + delay);
      expect(next! - 5 * MIN).toBeLessThanOrEqual(S + delay);
      expect((next! - S) % (5 * MIN)).toBe(0);
      expect(missed).toBe((next! - S) / (5 * MIN) - 1);
    },
  );

  it("collapses missed cron occurrences into one and arms the next in the future", () => {
    const hourly = cron("0 * * * *");
    const r = advance(hourly, S, Date.parse("2026-06-01T13:30:00Z"));
    expect(r.missed).toBe(3); // 11:00, 12:00 and 13:00 were skipped
    expect(new Date(r.next!).toISOString()).toBe("2026-06-01T14:00:00.000Z");
  });

  it("counts missed cron occurrences in the task's time zone", () => {
    const berlin = cron("0 9 * * *", "Europe/Berlin"); // 07:00Z in summer
    const r = advance(berlin, Date.parse("2026-06-01T07:00:00Z"), Date.parse("2026-06-03T12:00:00Z"));
    expect(r.missed).toBe(2);
    expect(new Date(r.next!).toISOString()).toBe("2026-06-04T07:00:00.000Z");
  });

  it("stops counting a very long cron outage but still arms the next occurrence after now", () => {
    const everyMinute = cron("* * * * *");
    const now = S + 3 * 24 * HOUR + 30_000; // three days of minutes, far over the counting cap
    const r = advance(everyMinute, S, now);
    expect(r.missed).toBeGreaterThan(0);
    expect(r.missed).toBeLessThan(3 * 24 * 60);
    expect(r.next).toBe(S + 3 * 24 * HOUR + MIN);
  });

  it("has nothing to arm after a once task fires", () => {
    const at = Date.parse("2026-06-01T10:00:00Z");
    expect(advance({ type: "once", at }, at, at + HOUR)).toEqual({ next: null, missed: 0 });
  });
});

describe("durations", () => {
  it.each([
    [MIN, "1m"],
    [90_000, "1m30s"],
    [HOUR, "1h"],
    [90 * MIN, "1h30m"],
    [HOUR + MIN + 1000, "1h1m1s"],
    [24 * HOUR, "24h"],
  ])("formats %i ms as %s and reads it back", (ms, text) => {
    expect(formatInterval(ms)).toBe(text);
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["300ms", 300],
    ["1.5h", 90 * MIN],
    [".5h", 30 * MIN],
    ["2h45m", 165 * MIN],
    ["1h0m30s", HOUR + 30_000],
    ["1500us", 2],
  ])("parses the Go duration %s", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "5", "5x", "m5", "1h 30m", "-5m", "+5m", "h", "1..5h", "5m junk"])("does not parse %j", (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});
