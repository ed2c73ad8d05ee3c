/**
 * Spend control on the wire (issue 14): budgets, per-run limits and the usage ledger, as
 * the REST API validates and returns them and MCP reuses them. zod only.
 */
import { z } from "zod";
import { ChannelId } from "./api.ts";

/** A cap above this is a typo, not a budget (issue 14: "absurd caps (over 1e6)"). */
export const MAX_USD = 1_000_000;
/** claude's --max-turns; more than this is a runaway loop, not a limit. */
export const MAX_TURNS_LIMIT = 10_000;
/** A day: longer runs are what the watchdog is for. */
export const MAX_TIMEOUT_SEC = 86_400;

const Usd = (what: string) =>
  z.number({ error: `${what} must be a number of US dollars, or null for no cap` }).min(0, `${what} cannot be negative`).max(MAX_USD, `${what} cannot be over ${MAX_USD}`);

// ---- budgets --------------------------------------------------------------------------

/** PUT /api/budget, PUT /api/channels/:id/budget: a field left out stays as it is; null removes the cap. */
export const PutBudget = z
  .strictObject({ daily_usd: Usd("daily_usd").nullable(), monthly_usd: Usd("monthly_usd").nullable() })
  .partial()
  .refine((v) => v.daily_usd !== undefined || v.monthly_usd !== undefined, { message: "nothing to change: give daily_usd or monthly_usd (null removes a cap)" });
export type PutBudget = z.infer<typeof PutBudget>;

/** What one cap has used in its current period (UTC day or month). */
export const CapStatus = z.object({
  cap_usd: z.number(),
  spent_usd: z.number(),
  /** The period's start and end (ISO, UTC). */
  period_start: z.string(),
  period_end: z.string(),
});
export type CapStatus = z.infer<typeof CapStatus>;

export const Budget = z.object({
  /** "global", or the channel's id. */
  scope: z.string(),
  daily_usd: z.number().nullable(),
  monthly_usd: z.number().nullable(),
  /** Present for each cap that is set. */
  daily: CapStatus.nullable(),
  monthly: CapStatus.nullable(),
});
export type Budget = z.infer<typeof Budget>;

// ---- per-run limits -------------------------------------------------------------------

/** A channel's limits for its runs, or a task's overrides; null: inherit (task → channel → runner config). */
export const RunLimits = z.strictObject({
  max_turns: z.number().int().min(1).max(MAX_TURNS_LIMIT).nullable(),
  max_budget_usd: z.number().positive().max(MAX_USD).nullable(),
  timeout_sec: z.number().int().min(1).max(MAX_TIMEOUT_SEC).nullable(),
});
export type RunLimits = z.infer<typeof RunLimits>;

export const SetRunLimits = RunLimits.partial().refine((v) => Object.keys(v).length > 0, {
  message: "nothing to change: give max_turns, max_budget_usd or timeout_sec (null clears one)",
});
export type SetRunLimits = z.infer<typeof SetRunLimits>;

// ---- usage ledger ---------------------------------------------------------------------

/** The windows `/loop usage` shows (UTC days: today, today and the 6 before, the 29 before). */
export const SPEND_WINDOWS = ["today", "7d", "30d"] as const;
export const SpendWindow = z.enum(SPEND_WINDOWS, { error: "must be today, 7d or 30d" });
export type SpendWindow = z.infer<typeof SpendWindow>;

export const UsageGroupBy = z.enum(["day", "channel", "task", "model"]);
export type UsageGroupBy = z.infer<typeof UsageGroupBy>;

/** Longest span one ledger query covers. */
export const MAX_USAGE_DAYS = 366;

const When = z.union([
  z.iso.datetime({ offset: true }),
  z.iso.date(),
]);

export const UsageQuery = z.strictObject({
  /** Inclusive start (RFC 3339, or a date: midnight in `tz`); default: 30 days before `to`. */
  from: When.optional(),
  /** Exclusive end; default: now. */
  to: When.optional(),
  channel_id: ChannelId.optional(),
  task_id: z.coerce.number().int().positive().optional(),
  group_by: UsageGroupBy.optional(),
  /** A second key inside each group (e.g. group_by=day&split_by=channel: one row per day and channel, for stacked charts). */
  split_by: UsageGroupBy.optional(),
  /** IANA zone for day buckets and date-only bounds; default UTC. */
  tz: z.string().min(1).max(64).optional(),
});
export type UsageQuery = z.infer<typeof UsageQuery>;

export const UsageFigures = z.object({
  /** Runs that finished in the period (succeeded, failed, cancelled, lost). */
  runs: z.number().int(),
  /** Runs that were not started because a cap was reached. */
  skipped_budget: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cache_read_tokens: z.number().int(),
  cache_write_tokens: z.number().int(),
  cost_usd: z.number(),
});
export type UsageFigures = z.infer<typeof UsageFigures>;

export const UsageGroup = UsageFigures.extend({
  /** The day (YYYY-MM-DD in tz), channel id, task id (as text) or model; null: none (a run without a task or model). */
  key: z.string().nullable(),
  /** With split_by: the second key (as `key` reads); absent otherwise. */
  split: z.string().nullable().optional(),
});
export type UsageGroup = z.infer<typeof UsageGroup>;

export const UsageReport = z.object({
  from: z.string(),
  to: z.string(),
  tz: z.string(),
  group_by: UsageGroupBy.nullable(),
  split_by: UsageGroupBy.nullable(),
  total: UsageFigures,
  groups: z.array(UsageGroup),
});
export type UsageReport = z.infer<typeof UsageReport>;
