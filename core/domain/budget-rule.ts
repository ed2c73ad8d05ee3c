/**
 * The budget rule (issue 14), pure: given what the caps are and what has been spent in
 * their periods, may a run start, and which caps deserve the 80 % warning. No storage, no
 * clock: budget-store.ts reads the figures, ChannelSession acts on the verdict.
 *
 * Periods are UTC calendar days and months. Spend is the cost of runs that *finished* in
 * the period: a running run's cost is not known until it completes, which is why per-run
 * limits (max_budget_usd) exist beside the caps.
 */

/** Share of a cap at which the channel is warned, once per period. */
export const WARN_AT = 0.8;

export type CapScope = "channel" | "global";
export type CapPeriod = "daily" | "monthly";

export interface CapFigure {
  scope: CapScope;
  period: CapPeriod;
  capUsd: number;
  spentUsd: number;
}

/** Every cap that is set for a channel (its own and the global ones), with its spend. */
export interface SpendFigures {
  caps: CapFigure[];
}

export type Verdict = { start: true } | { start: false; cap: CapFigure; reason: string };

/** "$0.0200" below a dollar, "$12.50" from one up: small caps need the digits. */
export const money = (usd: number): string => `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;
const PERIOD_WORD: Record<CapPeriod, string> = { daily: "today", monthly: "this month" };

export function describeCap(c: CapFigure): string {
  return `${c.scope === "channel" ? "the channel's" : "the global"} ${c.period} budget: ${money(c.spentUsd)} spent of ${money(c.capUsd)} ${PERIOD_WORD[c.period]} (UTC)`;
}

/**
 * A run may start while every cap has room. A cap is used up when spend has reached it
 * (spent ≥ cap), so a cap of 0 stops everything. The first exhausted cap is the reason.
 */
export function verdict(f: SpendFigures): Verdict {
  const over = f.caps.find((c) => c.spentUsd >= c.capUsd);
  if (!over) return { start: true };
  return { start: false, cap: over, reason: `over budget: ${describeCap(over)}` };
}

/** Caps at or past WARN_AT of their value (a cap of 0 never warns: nothing was spent against it). */
export function warnings(f: SpendFigures): CapFigure[] {
  return f.caps.filter((c) => c.capUsd > 0 && c.spentUsd >= c.capUsd * WARN_AT);
}

/** The cap a run footer shows: the channel's daily cap, else the global daily cap. */
export function footerCap(f: SpendFigures): CapFigure | null {
  const daily = f.caps.filter((c) => c.period === "daily");
  return daily.find((c) => c.scope === "channel") ?? daily[0] ?? null;
}

export interface Periods {
  dayStart: number;
  dayEnd: number;
  monthStart: number;
  monthEnd: number;
  /** "2026-11-29" and "2026-11": the keys a warning is remembered under. */
  dayKey: string;
  monthKey: string;
}

export function periods(now: number): Periods {
  const d = new Date(now);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth();
  const dayStart = Date.UTC(y, m, d.getUTCDate());
  const iso = new Date(dayStart).toISOString();
  return {
    dayStart,
    dayEnd: dayStart + 86_400_000,
    monthStart: Date.UTC(y, m, 1),
    monthEnd: Date.UTC(y, m + 1, 1),
    dayKey: iso.slice(0, 10),
    monthKey: iso.slice(0, 7),
  };
}

export const periodKey = (p: Periods, period: CapPeriod): string => (period === "daily" ? p.dayKey : p.monthKey);

/** The row a D1 read returns: caps (null: not set) and, for each cap set, its spend. */
export interface SpendRow {
  ch_daily: number | null;
  ch_monthly: number | null;
  g_daily: number | null;
  g_monthly: number | null;
  ch_day: number | null;
  ch_month: number | null;
  g_day: number | null;
  g_month: number | null;
}

export function figuresFrom(row: SpendRow): SpendFigures {
  const caps: CapFigure[] = [];
  const add = (scope: CapScope, period: CapPeriod, cap: number | null, spent: number | null) => {
    if (cap !== null) caps.push({ scope, period, capUsd: cap, spentUsd: spent ?? 0 });
  };
  add("channel", "daily", row.ch_daily, row.ch_day);
  add("channel", "monthly", row.ch_monthly, row.ch_month);
  add("global", "daily", row.g_daily, row.g_day);
  add("global", "monthly", row.g_monthly, row.g_month);
  return { caps };
}

/**
 * A run resuming after an approval (issue 13) has already spent money that no sum counts yet
 * (it has not finished): its resume is judged with that cost added to every cap's spend,
 * since it was spent now, inside each cap's current period.
 */
export function withUnfinishedCost(f: SpendFigures, usd: number | null): SpendFigures {
  if (!usd) return f;
  return { caps: f.caps.map((c) => ({ ...c, spentUsd: c.spentUsd + usd })) };
}
