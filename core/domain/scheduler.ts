/**
 * Firing scheduled occurrences. Called by a channel's alarm and by the minute sweep; both
 * go through fireDueTasks, and the database makes each occurrence happen exactly once.
 *
 * An occurrence is (task_id, scheduled_for). Firing one is a single D1 transaction:
 *   1. insert the run, but only while the task is still enabled and still due at
 *      scheduled_for (and never twice: UNIQUE (task_id, scheduled_for));
 *   2. move the task's next_run_at on, but only from scheduled_for (compare-and-set).
 * A doubled alarm or a sweep racing the alarm finds next_run_at already moved: both
 * statements match nothing and no second run appears.
 */
import { and, asc, eq, isNotNull, lte, min } from "drizzle-orm";
import type { FiredBy, FiredRun } from "../../durable-objects/contracts.ts";
import type { Db } from "../db/client.ts";
import { tasks, type TaskRow } from "../db/schema.ts";
import { log } from "../log.ts";
import { advance, storedSchedule } from "./schedule-grammar.ts";

export type { FiredBy, FiredRun };

/** Earliest next_run_at among the channel's enabled tasks, or null when none is pending. */
export async function earliestDue(db: Db, channelId: string): Promise<number | null> {
  return earliestOf(await earliestDueQuery(db, channelId));
}

/** earliestDue's statement, unrun, for a D1 batch around a write (tasks.ts). */
export function earliestDueQuery(db: Db, channelId: string) {
  return db
    .select({ at: min(tasks.nextRunAt) })
    .from(tasks)
    .where(and(eq(tasks.channelId, channelId), eq(tasks.enabled, true), isNotNull(tasks.nextRunAt)));
}

/** earliestDueQuery's rows → the time. */
export const earliestOf = (rows: { at: number | null }[]): number | null => rows[0]?.at ?? null;

/** Fires every due task of one channel. A task that fails is logged and does not stop the rest. */
export async function fireDueTasks(d1: D1Database, db: Db, channelId: string, now: number, firedBy: FiredBy): Promise<FiredRun[]> {
  const due = await db.query.tasks.findMany({
    where: and(eq(tasks.channelId, channelId), eq(tasks.enabled, true), lte(tasks.nextRunAt, now)),
    orderBy: asc(tasks.nextRunAt),
  });
  const fired: FiredRun[] = [];
  for (const task of due) {
    try {
      const run = await fireOccurrence(d1, task, now, firedBy);
      if (run) fired.push(run);
    } catch (err) {
      log.error("scheduler: firing a task failed", { channelId, taskId: task.id, error: String(err) });
    }
  }
  return fired;
}

async function fireOccurrence(d1: D1Database, task: TaskRow, now: number, firedBy: FiredBy): Promise<FiredRun | null> {
  const scheduledFor = task.nextRunAt!;
  const { next, missed } = advance(storedSchedule(task), scheduledFor, now);
  const once = task.type === "once";
  const lateMs = Math.max(0, now - scheduledFor);
  // Raw statements because the pair must be one atomic batch with a conditional insert;
  // drizzle has no INSERT ... SELECT ... ON CONFLICT for D1 batches.
  const [inserted] = await d1.batch<{ id: number }>([
    d1
      .prepare(
        `INSERT INTO runs (task_id, channel_id, trigger, status, prompt, scheduled_for, late_ms, missed_count, fired_by, created_at)
         SELECT id, channel_id, 'schedule', 'queued', prompt, ?1, ?2, ?3, ?4, ?5 FROM tasks
         WHERE id = ?6 AND enabled = 1 AND next_run_at = ?1
         ON CONFLICT (task_id, scheduled_for) WHERE task_id IS NOT NULL DO NOTHING RETURNING id`,
      )
      .bind(scheduledFor, lateMs, missed, firedBy, now, task.id),
    d1
      .prepare(
        `UPDATE tasks SET next_run_at = ?1, last_run_at = ?2, enabled = ?3, updated_at = ?2
         WHERE id = ?4 AND next_run_at = ?5`,
      )
      .bind(once ? null : next, now, once || next === null ? 0 : 1, task.id, scheduledFor),
  ]);
  const runId = inserted?.results[0]?.id;
  if (runId === undefined) return null;
  log.info("scheduler: fired", { channelId: task.channelId, taskId: task.id, runId, scheduledFor, lateMs, missed, firedBy });
  return { runId, taskId: task.id, scheduledFor, lateMs, missed };
}
