/**
 * Scheduled tasks: the one place their rules live. REST, Discord and MCP all call these
 * functions; every change re-arms the channel's alarm.
 */
import { and, desc, eq, inArray } from "drizzle-orm";
import type { CreateTask, Task, TaskWithPreview, UpdateTask } from "../../protocol/api.ts";
import { tasks, type ChannelRow, type TaskRow } from "../db/schema.ts";
import { invalid, notFound } from "../errors.ts";
import { canSeeChannel, visibleChannels } from "./actor.ts";
import { armChannel } from "./arm.ts";
import { channelRef, loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { canonicalSchedule, nextOccurrence, parseSchedule, previewOccurrences, storedSchedule } from "./schedule.ts";
import { iso, taskView } from "./views.ts";

export const PREVIEW_COUNT = 3;

function withPreview(row: TaskRow): TaskWithPreview {
  const preview =
    row.enabled && row.nextRunAt !== null
      ? [row.nextRunAt, ...previewOccurrences(storedSchedule(row), PREVIEW_COUNT - 1, row.nextRunAt)]
      : [];
  return { ...taskView(row), preview: preview.map((ms) => iso(ms)!) };
}

export async function loadTask(ctx: DomainContext, id: number): Promise<TaskRow> {
  const row = await ctx.db.query.tasks.findFirst({ where: eq(tasks.id, id) });
  if (!row || !canSeeChannel(ctx.actor, row.channelId)) throw notFound("task", id);
  return row;
}

export async function createTask(
  ctx: DomainContext,
  input: CreateTask,
  opts: { templateName?: string } = {},
): Promise<TaskWithPreview> {
  const channel = await loadChannel(ctx, input.channel_id);
  const now = Date.now();
  const schedule = parseSchedule(input, { now, minIntervalMs: ctx.cfg.minIntervalMs });
  const [row] = await ctx.db
    .insert(tasks)
    .values({
      channelId: channel.id,
      schedule: canonicalSchedule(schedule),
      type: input.type,
      tz: schedule.type === "cron" ? schedule.tz : null,
      prompt: input.prompt,
      enabled: true,
      nextRunAt: nextOccurrence(schedule, now),
      templateName: opts.templateName ?? null,
      createdAt: now,
      updatedAt: now,
    })
    .returning();
  await armChannel(ctx.env, channel.id);
  return withPreview(row!);
}

export async function listTasks(ctx: DomainContext, channelRefOrId?: string | ChannelRow): Promise<Task[]> {
  let where;
  if (channelRefOrId) {
    const channel = await channelRef(ctx, channelRefOrId);
    where = eq(tasks.channelId, channel.id);
  } else {
    const visible = visibleChannels(ctx.actor);
    where = visible ? inArray(tasks.channelId, visible) : undefined;
  }
  const rows = await ctx.db.query.tasks.findMany({ where, orderBy: desc(tasks.id), limit: 500 });
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
  const now = Date.now();
  const type = patch.type ?? current.type;
  // Leaving cron drops its time zone unless the caller set one (which parseSchedule refuses).
  const tz = patch.tz !== undefined ? patch.tz : type === "cron" ? current.tz : null;
  const scheduleChanged = patch.schedule !== undefined || patch.type !== undefined || patch.tz !== undefined;
  const enabled = patch.enabled ?? current.enabled;

  let schedule = current.schedule;
  let nextRunAt = current.nextRunAt;
  if (scheduleChanged || (enabled && !current.enabled)) {
    if (patch.type !== undefined && patch.type !== current.type && patch.schedule === undefined) {
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

  const [row] = await ctx.db
    .update(tasks)
    .set({
      type,
      tz,
      schedule,
      prompt: patch.prompt ?? current.prompt,
      enabled,
      nextRunAt,
      updatedAt: now,
    })
    .where(eq(tasks.id, id))
    .returning();
  await armChannel(ctx.env, current.channelId);
  return withPreview(row!);
}

export async function deleteTask(ctx: DomainContext, id: number): Promise<void> {
  const current = await loadTask(ctx, id);
  await ctx.db.delete(tasks).where(and(eq(tasks.id, id), eq(tasks.channelId, current.channelId)));
  await armChannel(ctx.env, current.channelId);
}
