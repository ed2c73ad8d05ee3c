/**
 * A task's auto_delete_sec (the original Loop's option, issue 16): the Discord thread a run of
 * the task started is deleted that many seconds after the run ends.
 *
 * The deletion is a row in D1 (thread_deletions), written by whichever of two writes comes
 * second: the run ending (run-state.ts) or its thread being recorded (discord-channels.ts).
 * Both call scheduleThreadDeletion, whose INSERT … SELECT only matches once the thread
 * exists and the run has ended, and whose primary key (the thread) makes a repeat a no-op:
 * exactly once, whatever the order, with nothing held in memory. The minute sweep then
 * deletes what is due (deleteDueThreads) and removes the row; a failed call stays with its
 * next attempt's time, so a restart or an outage of Discord loses nothing.
 */
import { and, asc, eq, gt, isNotNull, lte, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { channels, runs, tasks, threadDeletions } from "../db/schema.ts";
import type { DiscordRest } from "../discord/rest.ts";
import { log } from "../log.ts";
import { afterDeleteCall, THREAD_DELETE_BATCH } from "./thread-deletion-rule.ts";

/**
 * The statement recording the thread of run `runId` for deletion, when the run has ended
 * (finished_at is set only by the writes that end a run: finishRun, endRun),
 * its task has auto_delete_sec, and its thread exists; otherwise it inserts nothing. Batch
 * it with the write that makes one of those true, so the two cannot be parted.
 */
export function scheduleThreadDeletion(db: Db, runId: number) {
  return db
    .insert(threadDeletions)
    .select(
      db
        .select({
          threadId: sql<string>`${channels.discordChannelId}`.as("thread_id"),
          runId: runs.id,
          deleteAt: sql<number>`${runs.finishedAt} + ${tasks.autoDeleteSec} * 1000`.as("delete_at"),
          attempts: sql<number>`0`.as("attempts"),
          createdAt: sql<number>`CAST(unixepoch('subsec') * 1000 AS INTEGER)`.as("created_at"),
        })
        .from(runs)
        .innerJoin(tasks, eq(tasks.id, runs.taskId))
        .innerJoin(channels, eq(channels.originRunId, runs.id))
        .where(and(eq(runs.id, runId), isNotNull(runs.finishedAt), gt(tasks.autoDeleteSec, 0), isNotNull(channels.discordChannelId))),
    )
    .onConflictDoNothing({ target: threadDeletions.threadId });
}

export interface ThreadDeletionReport {
  deleted: number;
  retrying: number;
  abandoned: number;
}

/** Deletes the threads whose time has come (the sweep, every minute). */
export async function deleteDueThreads(db: Db, rest: DiscordRest, now: number): Promise<ThreadDeletionReport> {
  const report: ThreadDeletionReport = { deleted: 0, retrying: 0, abandoned: 0 };
  // Without the bot token nothing can be deleted; the rows wait until it is set.
  if (!rest.hasBotToken) return report;
  const due = await db.select().from(threadDeletions).where(lte(threadDeletions.deleteAt, now)).orderBy(asc(threadDeletions.deleteAt)).limit(THREAD_DELETE_BATCH);
  for (const row of due) {
    const result = await rest.deleteChannel(row.threadId);
    const next = afterDeleteCall(result, row.attempts, now);
    const fields = { threadId: row.threadId, runId: row.runId, attempts: row.attempts + 1 };
    if (next.kind === "done") {
      await db.delete(threadDeletions).where(eq(threadDeletions.threadId, row.threadId));
      report.deleted++;
      log.info(next.gone ? "discord: thread was already gone" : "discord: thread deleted (auto_delete_sec)", fields);
    } else if (next.kind === "give_up") {
      await db.delete(threadDeletions).where(eq(threadDeletions.threadId, row.threadId));
      report.abandoned++;
      log.error("discord: gave up deleting a thread", { ...fields, status: result.ok ? null : result.status, error: result.ok ? null : result.message });
    } else {
      await db
        .update(threadDeletions)
        .set({ deleteAt: next.at, attempts: row.attempts + (next.counts ? 1 : 0) })
        .where(eq(threadDeletions.threadId, row.threadId));
      report.retrying++;
      log.warn("discord: thread deletion failed; will retry", { ...fields, status: result.ok ? null : result.status, error: result.ok ? null : result.message, retryAt: next.at });
      // Rate limited: the calls after this one would be refused too.
      if (!next.counts) break;
    }
  }
  return report;
}
