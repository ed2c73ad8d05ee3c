/**
 * The dashboard's overview, in one request: runners and their leases (admins only, as
 * GET /api/runners), the queue, today's runs and spend, and the next scheduled firings of
 * the tasks the actor can see.
 */
import { and, count, eq, gte, inArray, isNotNull, sql, sum, type SQL } from "drizzle-orm";
import { RunStatus } from "../../protocol/api.ts";
import type { Firing, Overview } from "../../protocol/dashboard.ts";
import { MAX_CLAIM_WAIT_MS } from "../../protocol/runner.ts";
import { channels, runs, tasks } from "../db/schema.ts";
import { visibleChannels } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { getGlobalBudget } from "./budget-store.ts";
import { listRunners } from "./runners.ts";
import { previewOccurrences, storedSchedule } from "./schedule-grammar.ts";
import { iso } from "./views.ts";
import { cut } from "../text.ts";

/** An idle runner claims at least every MAX_CLAIM_WAIT_MS: unseen for 30 s past that is offline. */
export const RUNNER_ONLINE_WINDOW_MS = MAX_CLAIM_WAIT_MS + 30_000;
export const NEXT_FIRINGS = 10;
/** Enough of a prompt to recognise the task in a list. */
const PROMPT_PREVIEW_CHARS = 120;

export const startOfUtcDay = (ms: number): number => ms - (ms % 86_400_000);

export async function overview(ctx: DomainContext, now = Date.now()): Promise<Overview> {
  const visible = visibleChannels(ctx.actor);
  const inScope = (col: typeof runs.channelId | typeof tasks.channelId): SQL | undefined => (visible ? inArray(col, visible) : undefined);

  const [runners, budget, byStatus, spend, due] = await Promise.all([
    ctx.actor.kind === "admin" ? listRunners(ctx) : Promise.resolve(null),
    // The global daily budget (issue 14) covers every channel: admins only, as GET /api/budget.
    ctx.actor.kind === "admin" ? getGlobalBudget(ctx) : Promise.resolve(null),
    // Queued and running runs count whenever they were created; the rest only since 00:00 UTC.
    ctx.db
      .select({ status: runs.status, today: sql<number>`sum(${runs.createdAt} >= ${startOfUtcDay(now)})`, n: count() })
      .from(runs)
      .where(inScope(runs.channelId))
      .groupBy(runs.status),
    ctx.db
      .select({ usd: sum(runs.costUsd) })
      .from(runs)
      .where(and(inScope(runs.channelId), gte(runs.createdAt, startOfUtcDay(now)))),
    ctx.db
      .select({ task: tasks, channelName: channels.name })
      .from(tasks)
      .innerJoin(channels, eq(channels.id, tasks.channelId))
      .where(and(inScope(tasks.channelId), eq(tasks.enabled, true), isNotNull(tasks.nextRunAt)))
      .orderBy(tasks.nextRunAt)
      .limit(500),
  ]);

  const runsToday = Object.fromEntries(RunStatus.options.map((s) => [s, 0])) as Overview["runs_today"];
  let queued = 0;
  let running = 0;
  for (const row of byStatus) {
    runsToday[row.status] = Number(row.today ?? 0);
    if (row.status === "queued") queued = row.n;
    if (row.status === "running") running = row.n;
  }

  return {
    runners:
      runners?.map((r) => ({
        ...r,
        online: r.last_seen_at !== null && now - Date.parse(r.last_seen_at) <= RUNNER_ONLINE_WINDOW_MS,
      })) ?? null,
    queue_depth: queued,
    running,
    runs_today: runsToday,
    spend_today_usd: Number(spend[0]?.usd ?? 0),
    budget_today_usd: budget?.daily?.cap_usd ?? null,
    budget_spent_today_usd: budget?.daily?.spent_usd ?? null,
    next_firings: nextFirings(due, NEXT_FIRINGS),
  };
}

/** The earliest `limit` occurrences across tasks: one task may fire several times among them. */
function nextFirings(due: { task: typeof tasks.$inferSelect; channelName: string }[], limit: number): Firing[] {
  const all: Firing[] = [];
  for (const { task, channelName } of due) {
    const times = [task.nextRunAt!, ...previewOccurrences(storedSchedule(task), limit - 1, task.nextRunAt!)];
    const prompt = cut(task.prompt, PROMPT_PREVIEW_CHARS);
    for (const at of times) all.push({ task_id: task.id, channel_id: task.channelId, channel_name: channelName, prompt, at: iso(at)! });
  }
  return all.sort((a, b) => a.at.localeCompare(b.at)).slice(0, limit);
}
