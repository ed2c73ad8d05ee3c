/**
 * Worktree tasks (the original's `worktree: true`): each run of such a task happens in the
 * task's own git worktree on the runner, `<project>/.loop/worktrees/task-<id>`, kept from
 * one run to the next. The Worker never sees a runner's disk, so removal is a message:
 * when the task is deleted (or stops being a worktree task) one row per runner that ran it
 * goes into worktree_removals; that runner asks for its rows, removes the worktrees and
 * acknowledges. The rows live in D1, so a runner that was down catches up when it is back.
 */
import { and, eq, inArray, isNotNull } from "drizzle-orm";
import type { WorktreeRemoval } from "../../protocol/runner.ts";
import type { Db } from "../db/client.ts";
import { channels, runs, worktreeRemovals, type ChannelRow, type TaskRow } from "../db/schema.ts";

/** Most removals one answer carries; the runner asks again while it gets a full page. */
export const MAX_REMOVALS_PER_ANSWER = 50;

/** The directory a channel's runs work in: its own, or for a thread its parent's. */
export async function projectDirOf(db: Db, channel: Pick<ChannelRow, "dirPath" | "parentId">): Promise<string | null> {
  if (channel.dirPath) return channel.dirPath;
  if (!channel.parentId) return null;
  const parent = await db.query.channels.findFirst({ where: eq(channels.id, channel.parentId), columns: { dirPath: true } });
  return parent?.dirPath ?? null;
}

/** One removal per runner that ran the task (those are the only hosts with its worktree). */
export async function recordWorktreeRemovals(db: Db, task: Pick<TaskRow, "id" | "channelId">): Promise<number> {
  const ran = await db
    .selectDistinct({ runnerId: runs.runnerId })
    .from(runs)
    .where(and(eq(runs.taskId, task.id), isNotNull(runs.runnerId)));
  if (!ran.length) return 0;
  const channel = await db.query.channels.findFirst({ where: eq(channels.id, task.channelId), columns: { dirPath: true, parentId: true } });
  const dir = channel ? await projectDirOf(db, channel) : null;
  if (!dir) return 0;
  const now = Date.now();
  await db
    .insert(worktreeRemovals)
    .values(ran.map((r) => ({ taskId: task.id, runnerId: r.runnerId!, dirPath: dir, createdAt: now })))
    .onConflictDoNothing();
  return ran.length;
}

/** What this runner still has to remove. */
export async function pendingRemovals(db: Db, runnerId: string): Promise<WorktreeRemoval[]> {
  const rows = await db.query.worktreeRemovals.findMany({
    where: eq(worktreeRemovals.runnerId, runnerId),
    orderBy: worktreeRemovals.createdAt,
    limit: MAX_REMOVALS_PER_ANSWER,
  });
  return rows.map((r) => ({ task_id: r.taskId, dir_path: r.dirPath }));
}

/** Does this runner have removals waiting? (One indexed row at most: asked on every idle claim.) */
export async function hasPendingRemovals(db: Db, runnerId: string): Promise<boolean> {
  const row = await db.query.worktreeRemovals.findFirst({ columns: { taskId: true }, where: eq(worktreeRemovals.runnerId, runnerId) });
  return row !== undefined;
}

/** The runner removed these (or found them gone): forget them. */
export async function ackRemovals(db: Db, runnerId: string, taskIds: number[]): Promise<number> {
  if (!taskIds.length) return 0;
  const gone = await db
    .delete(worktreeRemovals)
    .where(and(eq(worktreeRemovals.runnerId, runnerId), inArray(worktreeRemovals.taskId, taskIds)))
    .returning({ taskId: worktreeRemovals.taskId });
  return gone.length;
}
