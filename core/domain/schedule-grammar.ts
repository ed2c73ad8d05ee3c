/**
 * The schedule grammar: one place that knows what "cron", "interval" and "once" mean.
 *
 * - cron: 5 fields (minute hour day-of-month month day-of-week), read in an optional IANA
 *   time zone (UTC by default). DST follows Vixie cron through croner: a fixed-time job
 *   whose local time does not exist (spring forward) runs once at the first valid time
 *   after the gap; a local time that occurs twice (fall back) runs once, at the first.
 * - interval: Go-style durations as in the original ("30m", "1h30m", "1.5h"); the next
 *   occurrence is always the previous *scheduled* time plus the interval, so nothing drifts.
 * - once: an RFC 3339 time ("2026-12-01T09:00:00Z", "2026-12-01T09:00:00+01:00") or a
 *   relative time ("in 10m"), normalised to an absolute UTC time when the task is stored.
 * - manual: no schedule at all (the original's type "manual"); the task never fires by
 *   itself and runs only when someone runs it now. Any schedule text given is dropped.
 */
import { Cron } from "croner";
import type { TaskType } from "../../protocol/api.ts";
import { AppError } from "../errors.ts";
import { Lru } from "../lru.ts";

export type Schedule =
  | { type: "cron"; expr: string; tz: string | null }
  | { type: "interval"; everyMs: number }
  | { type: "once"; at: number }
  | { type: "manual" };

export interface ScheduleInput {
  type: TaskType;
  schedule: string;
  tz?: string | null;
}

export interface ParseOptions {
  /** "now" for relative once-times and the not-in-the-past check. */
  now: number;
  /** Shortest interval accepted, in milliseconds. */
  minIntervalMs: number;
}

const EXAMPLES: Record<TaskType, string> = {
  cron: '"0 9 * * 1-5" (09:00 on weekdays) with tz "Europe/Berlin"',
  interval: '"30m", "1h30m" or "2h"',
  once: '"2026-12-01T09:00:00Z" or "in 10m"',
  manual: "no schedule: run it with run_task, /loop task run: True or POST /api/tasks/{id}/run",
};

function invalid(message: string, field: string, type?: TaskType): AppError {
  const example = type ? ` Example: ${EXAMPLES[type]}.` : "";
  return new AppError(422, "invalid_schedule", `${message}${example}`, field);
}

/** Parses and validates a schedule; throws an AppError naming the field on bad input. */
export function parseSchedule(input: ScheduleInput, opts: ParseOptions): Schedule {
  if (input.type === "manual") {
    if (input.tz != null) throw invalid("tz applies only to cron tasks, not manual.", "tz", "cron");
    return { type: "manual" };
  }
  const text = input.schedule.trim();
  if (!text) throw invalid("schedule is empty.", "schedule", input.type);
  if (input.tz != null && input.type !== "cron") {
    throw invalid(`tz applies only to cron tasks, not ${input.type}.`, "tz", "cron");
  }
  switch (input.type) {
    case "cron":
      return parseCron(text, input.tz ?? null);
    case "interval": {
      const everyMs = parseDuration(text);
      if (everyMs === null) {
        throw invalid(`"${text}" is not a duration.`, "schedule", "interval");
      }
      if (everyMs < opts.minIntervalMs) {
        throw invalid(
          `interval "${text}" is shorter than the minimum of ${formatInterval(opts.minIntervalMs)}.`,
          "schedule",
          "interval",
        );
      }
      return { type: "interval", everyMs };
    }
    case "once":
      return { type: "once", at: parseOnce(text, opts.now) };
  }
}

function parseCron(expr: string, tz: string | null): Schedule {
  if (tz !== null && !isTimeZone(tz)) {
    throw invalid(`"${tz}" is not an IANA time zone.`, "tz", "cron");
  }
  const fields = expr.split(/\s+/);
  if (fields.length !== 5) {
    throw invalid(
      `cron needs 5 fields (minute hour day-of-month month day-of-week), got ${fields.length}.`,
      "schedule",
      "cron",
    );
  }
  try {
    // Constructing validates the pattern (and keeps it for nextOccurrence).
    cronOf(expr, tz);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw invalid(`"${expr}" is not a valid cron expression (${why}).`, "schedule", "cron");
  }
  return { type: "cron", expr: fields.join(" "), tz };
}

function parseOnce(text: string, now: number): number {
  const relative = /^in\s+(.+)$/i.exec(text);
  let at: number;
  if (relative) {
    const ms = parseDuration(relative[1]!.trim());
    if (ms === null || ms <= 0) throw invalid(`"${text}" is not a relative time.`, "schedule", "once");
    at = now + ms;
  } else {
    // RFC 3339 requires a date, a time and an offset; Date.parse alone accepts far more.
    const m = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/.exec(text);
    if (!m) throw invalid(`"${text}" is not an RFC 3339 time with an offset.`, "schedule", "once");
    at = Date.parse(text.replace(" ", "T"));
    // V8 rolls "2026-02-30" over to March 2 and reads hour 24 as the next midnight.
    const [year, month, day, hour] = m.slice(1, 5).map(Number) as [number, number, number, number];
    const date = new Date(Date.UTC(year, month - 1, day));
    const realDate = date.getUTCMonth() === month - 1 && date.getUTCDate() === day && hour <= 23;
    if (Number.isNaN(at) || !realDate) throw invalid(`"${text}" is not a real date.`, "schedule", "once");
  }
  if (at <= now) throw invalid(`"${text}" is in the past.`, "schedule", "once");
  return at;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration grammar (no sign): "300ms", "1.5h", "2h45m". */
export function parseDuration(text: string): number | null {
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched === 0 || matched !== text.length) return null;
  return Math.round(total);
}

/** An interval in the grammar's own Go style ("1h30m"): what parseDuration reads back. */
export function formatInterval(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms / 1000);
  for (const [unit, size] of [
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join("") || "0s";
}

/**
 * Zones already found valid in this isolate. Building an Intl.DateTimeFormat to test a name is
 * the costliest step of checking a cron task (bench/cpu); the set holds only real IANA names,
 * so it stays small (a few hundred at most).
 */
const knownZones = new Set<string>();

function isTimeZone(tz: string): boolean {
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
  } catch {
    return false;
  }
  knownZones.add(tz);
  return true;
}

/** The stored form of a schedule: once-times become absolute UTC so re-reading is stable. */
export function canonicalSchedule(s: Schedule): string {
  switch (s.type) {
    case "cron":
      return s.expr;
    case "interval":
      return formatInterval(s.everyMs);
    case "once":
      return new Date(s.at).toISOString();
    case "manual":
      return "";
  }
}

/** Reads a schedule stored by canonicalSchedule; it was validated on the way in. */
export function storedSchedule(t: { type: TaskType; schedule: string; tz: string | null }): Schedule {
  switch (t.type) {
    case "cron":
      return { type: "cron", expr: t.schedule, tz: t.tz };
    case "interval":
      return { type: "interval", everyMs: parseDuration(t.schedule) ?? 60_000 };
    case "once":
      return { type: "once", at: Date.parse(t.schedule) };
    case "manual":
      return { type: "manual" };
  }
}

/**
 * The first occurrence strictly after `after`. For an interval, `after` is the previous
 * scheduled time (or the creation time), never the time a run finished.
 */
export function nextOccurrence(s: Schedule, after: number): number | null {
  switch (s.type) {
    case "cron": {
      const next = cronOf(s.expr, s.tz).nextRun(new Date(after));
      return next ? next.getTime() : null;
    }
    case "interval":
      return after + s.everyMs;
    case "once":
      return s.at > after ? s.at : null;
    case "manual":
      return null;
  }
}

/** The next `count` occurrences after `after`. */
export function previewOccurrences(s: Schedule, count: number, after: number): number[] {
  const out: number[] = [];
  let cursor = after;
  while (out.length < count) {
    const next = nextAfterOccurrence(s, cursor);
    if (next === null) break;
    out.push(next);
    cursor = next;
  }
  return out;
}

/**
 * The occurrence to fire when a task is due at `now`, the next one to arm, and how many
 * occurrences were skipped in between (missed while nothing fired; they collapse into one).
 */
export function advance(
  s: Schedule,
  scheduledFor: number,
  now: number,
): { next: number | null; missed: number } {
  if (s.type === "interval") {
    // Closed form: a week-long outage of a 1-minute interval must not loop 10,080 times.
    const steps = Math.max(1, Math.floor((now - scheduledFor) / s.everyMs) + 1);
    return { next: scheduledFor + steps * s.everyMs, missed: steps - 1 };
  }
  let missed = 0;
  let next = nextAfterOccurrence(s, scheduledFor);
  while (next !== null && next <= now) {
    // Counting every missed minute of a long outage is not worth the CPU: stop counting.
    if (++missed >= MAX_COUNTED_MISSES) return { next: nextOccurrence(s, now), missed };
    next = nextAfterOccurrence(s, next);
  }
  return { next, missed };
}

const MAX_COUNTED_MISSES = 1000;

/*
 * Per-isolate caches for cron (issue 19). bench/cpu found croner among the heaviest work of a
 * task's create and edit: parsing the pattern on every call (three times for the preview),
 * and the time-zone arithmetic of each next occurrence (an Intl formatToParts per candidate).
 * Both are pure functions of their inputs, so caching changes no answer:
 *  - a paused Cron with no job is never mutated by nextRun (croner reads its state only when
 *    no "after" date is given, or for a job that has run), so one per (expression, zone)
 *    serves every caller;
 *  - "the next occurrence after an occurrence" depends only on (expression, zone, that
 *    time). The preview chains from next_run_at and the scheduler from scheduled_for, both
 *    occurrences many requests share (every weekday-at-nine task has the same next three).
 *    "Next after now" is left uncached: now is new on every call.
 * Both are bounded LRUs: distinct expressions are few, but a user could send many.
 */
const CRON_CACHE_SIZE = 100;
const NEXT_CACHE_SIZE = 500;
const crons = new Lru<string, Cron>(CRON_CACHE_SIZE);
const nextAfter = new Lru<string, number | null>(NEXT_CACHE_SIZE);

/** The parsed pattern; throws croner's error for an invalid one (not cached). */
function cronOf(expr: string, tz: string | null): Cron {
  // Paused, and given no function: nothing is ever started.
  return crons.getOrSet(`${tz ?? "UTC"}\n${expr}`, () => new Cron(expr, { paused: true, mode: "5-part", timezone: tz ?? "UTC" }));
}

/** nextOccurrence from a time that is itself an occurrence (a time many calls share). */
function nextAfterOccurrence(s: Schedule, occurrence: number): number | null {
  if (s.type !== "cron") return nextOccurrence(s, occurrence);
  return nextAfter.getOrSet(`${s.tz ?? "UTC"}\n${s.expr}\n${occurrence}`, () => nextOccurrence(s, occurrence));
}

/** For tests: how many patterns and next-occurrence answers this isolate keeps. */
export function cronCacheSizes(): { patterns: number; nexts: number } {
  return { patterns: crons.size, nexts: nextAfter.size };
}
