/**
 * Scheduled tasks: the one place their rules live. REST, Discord and MCP all call these
 * functions; a change that moves the channel's earliest due time re-arms its alarm (arm.ts).
 */
import { and, desc, eq, inArray, lt, sql } from "drizzle-orm";
import { MAX_LIST_PAGE, type CreateTask, type Task, type TaskWithPreview, type UpdateTask } from "../../protocol/api.ts";
import { preparedPer } from "../db/prepared.ts";
import { tasks, type ChannelRow, type TaskRow } from "../db/schema.ts";
import { conflict, invalid, notFound } from "../errors.ts";
import { canSeeChannel, visibleChannels } from "./actor.ts";
import { armIfMoved } from "./arm.ts";
import { channelRef, loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { assertMayGovern } from "./policy.ts";
import { earliestDueQuery, earliestOf } from "./scheduler.ts";
import { canonicalSchedule, nextOccurrence, parseSchedule, previewOccurrences, storedSchedule } from "./schedule-grammar.ts";
import { iso, taskView } from "./views.ts";
import { projectDirOf, recordWorktreeRemovals } from "./worktrees.ts";

export const PREVIEW_COUNT = 3;

function withPreview(row: TaskRow): TaskWithPreview {
  const preview =
    row.enabled && row.nextRunAt !== null
      ? [row.nextRunAt, ...previewOccurrences(storedSchedule(row), PREVIEW_COUNT - 1, row.nextRunAt)]
      : [];
  return { ...taskView(row), preview: preview.map((ms) => iso(ms)!) };
}

/**
 * The hot reads, prepared once per D1 binding (core/db/prepared.ts), with drizzle's core
 * builder: the relational one (db.query) costs several times the CPU for the same rows.
 */
const statements = preparedPer((db) => ({
  taskById: db.select().from(tasks).where(eq(tasks.id, sql.placeholder("id"))).limit(1).prepare(),
  tasksOfChannel: db
    .select()
    .from(tasks)
    .where(eq(tasks.channelId, sql.placeholder("channelId")))
    .orderBy(desc(tasks.id))
    .limit(sql.placeholder("limit"))
    .prepare(),
}));

export async function loadTask(ctx: DomainContext, id: number): Promise<TaskRow> {
  const row = await statements(ctx.db).taskById.get({ id });
  if (!row || !canSeeChannel(ctx.actor, row.channelId)) throw notFound("task", id);
  return row;
}

/** The worktree options as stored; refuses branch options on a task without a worktree. */
function worktreeOptions(o: { worktree: boolean; origin_branch: string | null; update_before_run: boolean }) {
  if (!o.worktree && o.origin_branch) throw invalid("origin_branch applies only to worktree tasks: set worktree to true as well.", "origin_branch");
  if (!o.worktree && o.update_before_run) throw invalid("update_before_run applies only to worktree tasks: set worktree to true as well.", "update_before_run");
  return { worktree: o.worktree, originBranch: o.worktree ? o.origin_branch : null, updateBeforeRun: o.worktree && o.update_before_run };
}

/** A worktree lives beside the project: a channel without a directory cannot have one. */
async function assertWorktreePossible(ctx: DomainContext, channel: ChannelRow): Promise<void> {
  if (!(await projectDirOf(ctx.db, channel))) {
    throw invalid("worktree tasks need the channel's project directory (a git repository on the runner host); bind one first (POST /api/channels with dir_path, or /loop dir).", "worktree");
  }
}

export async function createTask(ctx: DomainContext, input: CreateTask): Promise<TaskWithPreview> {
  const channel = await loadChannel(ctx, input.channel_id);
  const now = Date.now();
  const schedule = parseSchedule(input, { now, minIntervalMs: ctx.cfg.minIntervalMs });
  const options = worktreeOptions(
    { worktree: input.worktree ?? false, origin_branch: input.origin_branch ?? null, update_before_run: input.update_before_run ?? false },
  );
  if (options.worktree) await assertWorktreePossible(ctx, channel);
  const templateName = input.template_name ?? null;
  if (templateName) {
    const [taken] = await ctx.db.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.channelId, channel.id), eq(tasks.templateName, templateName))).limit(1);
    if (taken) throw conflict(`task #${taken.id} of this channel already carries template_name ${templateName}.`, "template_name");
  }
  const insert = ctx.db
    .insert(tasks)
    .values({
      channelId: channel.id,
      schedule: canonicalSchedule(schedule),
      type: input.type,
      tz: schedule.type === "cron" ? schedule.tz : null,
      prompt: input.prompt,
      enabled: true,
      nextRunAt: nextOccurrence(schedule, now),
      templateName,
      autoDeleteSec: input.auto_delete_sec ?? 0,
      ...options,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  const [before, [row], after] = await ctx.db.batch([earliestDueQuery(ctx.db, channel.id), insert, earliestDueQuery(ctx.db, channel.id)]);
  await armIfMoved(ctx.env, channel.id, earliestOf(before), earliestOf(after));
  return withPreview(row!);
}

/** Newest first, one page of at most MAX_LIST_PAGE: no request reads an unbounded number of rows. */
export async function listTasks(ctx: DomainContext, channelRefOrId?: string | ChannelRow, page: { limit?: number; before?: number | undefined } = {}): Promise<Task[]> {
  const limit = Math.min(page.limit ?? MAX_LIST_PAGE, MAX_LIST_PAGE);
  let where;
  if (channelRefOrId) {
    const channel = await channelRef(ctx, channelRefOrId);
    // The first page of one channel, what every list shows: prepared.
    if (page.before === undefined) return (await statements(ctx.db).tasksOfChannel.all({ channelId: channel.id, limit })).map(taskView);
    where = eq(tasks.channelId, channel.id);
  } else {
    const visible = visibleChannels(ctx.actor);
    where = visible ? inArray(tasks.channelId, visible) : undefined;
  }
  if (page.before !== undefined) where = and(where, lt(tasks.id, page.before));
  const rows = await ctx.db.select().from(tasks).where(where).orderBy(desc(tasks.id)).limit(limit);
  return rows.map(taskView);
}

export async function getTask(ctx: DomainContext, id: number): Promise<TaskWithPreview> {
  return withPreview(await loadTask(ctx, id));
}

export async function previewTask(ctx: DomainContext, id: number, count: number): Promise<string[]> {
  const row = await loadTask(ctx, id);
  if (!row.enabled || row.nextRunAt === null) return [];
  const rest = previewOccurrences(storedSchedule(row), count - 1, row.nextRunAt);
  return [row.nextRunAt, ...rest].map((ms) => iso(ms)!);
}

export async function updateTask(ctx: DomainContext, id: number, patch: UpdateTask): Promise<TaskWithPreview> {
  const current = await loadTask(ctx, id);
  // A task's permission override governs its agent: not something the agent may change.
  if (patch.permission_policy !== undefined) assertMayGovern(ctx.actor, "change a permission policy");
  const now = Date.now();
  const type = patch.type ?? current.type;
  // Leaving cron drops its time zone unless the caller set one (which parseSchedule refuses).
  const tz = patch.tz !== undefined ? patch.tz : type === "cron" ? current.tz : null;
  const scheduleChanged = patch.schedule !== undefined || patch.type !== undefined || patch.tz !== undefined;
  const enabled = patch.enabled ?? current.enabled;
  const worktree = patch.worktree ?? current.worktree;
  const options = worktreeOptions(
    {
      worktree,
      // Turning the worktree off drops its branch options with it.
      origin_branch: patch.origin_branch !== undefined ? patch.origin_branch : worktree ? current.originBranch : null,
      update_before_run: patch.update_before_run ?? (worktree && current.updateBeforeRun),
    },
  );
  if (options.worktree && !current.worktree) await assertWorktreePossible(ctx, await loadChannel(ctx, current.channelId));

  let schedule = current.schedule;
  let nextRunAt = current.nextRunAt;
  if (scheduleChanged || (enabled && !current.enabled)) {
    // A manual task needs no schedule, so changing to manual needs none either.
    if (patch.type !== undefined && patch.type !== current.type && patch.schedule === undefined && type !== "manual") {
      throw invalid(`changing type to ${type} needs a new schedule too.`, "schedule");
    }
    const parsed = parseSchedule(
      { type, schedule: patch.schedule ?? current.schedule, tz },
      { now, minIntervalMs: scheduleChanged ? ctx.cfg.minIntervalMs : 0 },
    );
    schedule = canonicalSchedule(parsed);
    nextRunAt = nextOccurrence(parsed, now);
  }
  if (!enabled) nextRunAt = null;

  const update = ctx.db
    .update(tasks)
    .set({
      type,
      tz,
      schedule,
      prompt: patch.prompt ?? current.prompt,
      enabled,
      nextRunAt,
      autoDeleteSec: patch.auto_delete_sec ?? current.autoDeleteSec,
      ...options,
      ...(patch.permission_policy !== undefined ? { permissionPolicy: patch.permission_policy } : {}),
      updatedAt: now,
    })
    .where(eq(tasks.id, id))
    .returning();
  const [before, [row], after] = await ctx.db.batch([earliestDueQuery(ctx.db, current.channelId), update, earliestDueQuery(ctx.db, current.channelId)]);
  // The worktree it no longer uses is removed from the runners that made it.
  if (current.worktree && !options.worktree) await recordWorktreeRemovals(ctx.db, current);
  await armIfMoved(ctx.env, current.channelId, earliestOf(before), earliestOf(after));
  return withPreview(row!);
}

export async function deleteTask(ctx: DomainContext, id: number): Promise<void> {
  const current = await loadTask(ctx, id);
  // Recorded before the delete: the runs that say which runners made a worktree lose
  // their task_id with it (ON DELETE SET NULL).
  if (current.worktree) await recordWorktreeRemovals(ctx.db, current);
  const [before, , after] = await ctx.db.batch([
    earliestDueQuery(ctx.db, current.channelId),
    ctx.db.delete(tasks).where(and(eq(tasks.id, id), eq(tasks.channelId, current.channelId))),
    earliestDueQuery(ctx.db, current.channelId),
  ]);
  await armIfMoved(ctx.env, current.channelId, earliestOf(before), earliestOf(after));
}
