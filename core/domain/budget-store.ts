/**
 * Budgets in D1 (issue 14): the one read the ChannelSession makes before a run becomes a
 * job, setting caps over REST/MCP/Discord, and the exactly-once 80 % warning record.
 */
import { and, eq, gte, sql } from "drizzle-orm";
import type { Budget, CapStatus, PutBudget } from "../../protocol/spend.ts";
import type { Db } from "../db/client.ts";
import { budgets, budgetWarnings, GLOBAL_BUDGET_SCOPE, spendDays } from "../db/schema.ts";
import { forbidden } from "../errors.ts";
import { assertAdmin, type Actor } from "./actor.ts";
import { figuresFrom, periodKey, periods, type CapFigure, type Periods, type SpendFigures, type SpendRow } from "./budget-rule.ts";
import { loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";

/**
 * One statement: the channel's runner label (which the queue needs anyway) and, for every
 * cap that is set, the spend of its period, from the daily rollup (spend_days, kept by
 * triggers on runs): a day is one primary-key row, a month at most 31. Summing runs instead
 * read every run of the month for each monthly cap (bench/dispatch: 6,025 rows per start
 * check with 2,000 runs that day), a cost paid before every run.
 *
 * A Discord thread is a conversation inside its channel: it runs under the channel's caps,
 * and its runs count in the channel's rollup (migration 0008), so a capped channel cannot be
 * outspent through its threads.
 */
const START_CHECK = `
SELECT c.runner_label AS runner_label, coalesce(c.parent_id, c.id) AS budget_channel_id,
  cb.daily_usd AS ch_daily, cb.monthly_usd AS ch_monthly, gb.daily_usd AS g_daily, gb.monthly_usd AS g_monthly,
  CASE WHEN cb.daily_usd IS NOT NULL THEN (SELECT total(cost_usd) FROM spend_days WHERE scope = coalesce(c.parent_id, c.id) AND day = ?2) END AS ch_day,
  CASE WHEN cb.monthly_usd IS NOT NULL THEN (SELECT total(cost_usd) FROM spend_days WHERE scope = coalesce(c.parent_id, c.id) AND day >= ?3) END AS ch_month,
  CASE WHEN gb.daily_usd IS NOT NULL THEN (SELECT total(cost_usd) FROM spend_days WHERE scope = '${GLOBAL_BUDGET_SCOPE}' AND day = ?2) END AS g_day,
  CASE WHEN gb.monthly_usd IS NOT NULL THEN (SELECT total(cost_usd) FROM spend_days WHERE scope = '${GLOBAL_BUDGET_SCOPE}' AND day >= ?3) END AS g_month
FROM channels c
LEFT JOIN budgets cb ON cb.scope = coalesce(c.parent_id, c.id)
LEFT JOIN budgets gb ON gb.scope = '${GLOBAL_BUDGET_SCOPE}'
WHERE c.id = ?1`;

export interface StartCheck {
  runnerLabel: string | null;
  /** Whose caps apply: the channel itself, or for a thread its parent channel. */
  budgetChannelId: string;
  spend: SpendFigures;
  periods: Periods;
}

/** What the queue needs to hand a channel's next run over: null if the channel is gone. */
export async function readStartCheck(d1: D1Database, channelId: string, now: number): Promise<StartCheck | null> {
  const p = periods(now);
  const row = await d1.prepare(START_CHECK).bind(channelId, p.dayStart, p.monthStart).first<SpendRow & { runner_label: string | null; budget_channel_id: string }>();
  if (!row) return null;
  return { runnerLabel: row.runner_label, budgetChannelId: row.budget_channel_id, spend: figuresFrom(row), periods: p };
}

/**
 * Records that a cap's warning was given in this period for this channel. True only for
 * the one caller whose insert landed: the unique key decides, so a doubled finish or two
 * objects racing never post twice.
 */
export async function claimWarning(db: Db, channelId: string, cap: CapFigure, p: Periods, now: number): Promise<boolean> {
  const rows = await db
    .insert(budgetWarnings)
    .values({ channelId, scope: `${cap.scope}:${cap.period}`, period: periodKey(p, cap.period), spentUsd: cap.spentUsd, capUsd: cap.capUsd, at: now })
    .onConflictDoNothing()
    .returning({ at: budgetWarnings.at });
  return rows.length === 1;
}

// ---- reading and setting caps ------------------------------------------------------------

/** Run tokens belong to agents: an agent must not raise the cap it runs under. */
function assertMayChangeBudget(actor: Actor): void {
  if (actor.kind === "run") throw forbidden("A run token cannot change budgets or limits.");
}

/** A period's spend from the rollup, as the start check reads it (periods start at a UTC midnight). */
async function spentSince(db: Db, scope: string, since: number): Promise<number> {
  const [row] = await db.select({ spent: sql<number>`total(${spendDays.costUsd})` }).from(spendDays).where(and(eq(spendDays.scope, scope), gte(spendDays.day, since)));
  return row?.spent ?? 0;
}

async function budgetView(db: Db, scope: string, now: number): Promise<Budget> {
  const row = await db.query.budgets.findFirst({ where: eq(budgets.scope, scope) });
  const p = periods(now);
  const channelId = scope === GLOBAL_BUDGET_SCOPE ? null : scope;
  const status = async (cap: number | null | undefined, start: number, end: number): Promise<CapStatus | null> =>
    cap == null
      ? null
      : { cap_usd: cap, spent_usd: await spentSince(db, scope, start), period_start: new Date(start).toISOString(), period_end: new Date(end).toISOString() };
  return {
    scope: channelId ?? "global",
    daily_usd: row?.dailyUsd ?? null,
    monthly_usd: row?.monthlyUsd ?? null,
    daily: await status(row?.dailyUsd, p.dayStart, p.dayEnd),
    monthly: await status(row?.monthlyUsd, p.monthStart, p.monthEnd),
  };
}

async function putBudget(db: Db, scope: string, patch: PutBudget, now: number): Promise<void> {
  const values = {
    ...(patch.daily_usd !== undefined ? { dailyUsd: patch.daily_usd } : {}),
    ...(patch.monthly_usd !== undefined ? { monthlyUsd: patch.monthly_usd } : {}),
  };
  // An upsert: the fields not given keep their value; a run already running is untouched
  // (caps are read only when a run is about to start).
  await db
    .insert(budgets)
    .values({ scope, dailyUsd: null, monthlyUsd: null, ...values, updatedAt: now })
    .onConflictDoUpdate({ target: budgets.scope, set: { ...values, updatedAt: now } });
}

export async function getChannelBudget(ctx: DomainContext, channelId: string): Promise<Budget> {
  const channel = await loadChannel(ctx, channelId);
  return budgetView(ctx.db, channel.id, Date.now());
}

export async function setChannelBudget(ctx: DomainContext, channelId: string, patch: PutBudget): Promise<Budget> {
  const channel = await loadChannel(ctx, channelId);
  const now = Date.now();
  await saveChannelBudget(ctx, channel, patch, now);
  return budgetView(ctx.db, channel.id, now);
}

/** The write alone, for a caller that has the channel already and reads the result its own way (/loop budget). */
export async function saveChannelBudget(ctx: DomainContext, channel: { id: string }, patch: PutBudget, now = Date.now()): Promise<void> {
  assertMayChangeBudget(ctx.actor);
  await putBudget(ctx.db, channel.id, patch, now);
}

export async function getGlobalBudget(ctx: DomainContext): Promise<Budget> {
  // Global spend covers every channel: only an admin may read it.
  assertAdmin(ctx.actor, "read the global budget");
  return budgetView(ctx.db, GLOBAL_BUDGET_SCOPE, Date.now());
}

export async function setGlobalBudget(ctx: DomainContext, patch: PutBudget): Promise<Budget> {
  assertAdmin(ctx.actor, "change the global budget");
  const now = Date.now();
  await putBudget(ctx.db, GLOBAL_BUDGET_SCOPE, patch, now);
  return budgetView(ctx.db, GLOBAL_BUDGET_SCOPE, now);
}

export { assertMayChangeBudget };
