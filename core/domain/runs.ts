/** Run history as users read it. Creating and advancing runs lives with the run pipeline. */
import { and, asc, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import { sessionOf, type CancelOutcome, type LiveTarget, type QueuedRun, type RunRequest } from "../../durable-objects/contracts.ts";
import type { Db } from "../db/client.ts";
import type { Run, RunStatus, RunTrigger } from "../../protocol/api.ts";
import { runStatusIs } from "../db/run-lookups.ts";
import { runEvents, runs, type ChannelRow, type RunRow } from "../db/schema.ts";
import { notFound } from "../errors.ts";
import { actorLabel, canSeeChannel, visibleChannels } from "./actor.ts";
import { channelRef } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { isTerminal } from "./run-state.ts";
import { loadTask } from "./tasks.ts";
import { runEventView, runView } from "./views.ts";

export interface RunFilter {
  /** A channel id, or a channel the caller already loaded. */
  channel_id?: string | ChannelRow | undefined;
  task_id?: number | undefined;
  status?: RunStatus | undefined;
  trigger?: RunTrigger | undefined;
  limit: number;
  before?: number | undefined;
}

export async function loadRun(ctx: DomainContext, id: number): Promise<RunRow> {
  const row = await ctx.db.query.runs.findFirst({ where: eq(runs.id, id) });
  if (!row || !canSeeChannel(ctx.actor, row.channelId)) throw notFound("run", id);
  return row;
}

export async function listRuns(ctx: DomainContext, filter: RunFilter): Promise<Run[]> {
  const where: SQL[] = [];
  if (filter.channel_id) {
    where.push(eq(runs.channelId, (await channelRef(ctx, filter.channel_id)).id));
  } else {
    const visible = visibleChannels(ctx.actor);
    if (visible) where.push(inArray(runs.channelId, visible));
  }
  if (filter.task_id) where.push(eq(runs.taskId, filter.task_id));
  if (filter.status) where.push(runStatusIs(filter.status));
  if (filter.trigger) where.push(eq(runs.trigger, filter.trigger));
  if (filter.before) where.push(lt(runs.id, filter.before));
  const rows = await ctx.db.query.runs.findMany({
    where: and(...where),
    orderBy: desc(runs.id),
    limit: filter.limit,
  });
  return rows.map(runView);
}

export async function getRunWithEvents(ctx: DomainContext, id: number) {
  const run = await loadRun(ctx, id);
  const events = await ctx.db.query.runEvents.findMany({
    where: eq(runEvents.runId, id),
    orderBy: asc(runEvents.seq),
    limit: 5000,
  });
  return { ...runView(run), events: events.map(runEventView) };
}

/** Queues an ad-hoc run (ask, run-now) on the channel; it starts when the channel is free. */
export async function createRun(
  ctx: DomainContext,
  input: { channel_id: string | ChannelRow; prompt: string; task_id?: number },
  trigger: RunTrigger,
  /** Where the run's live Discord message goes; by default a new message in the channel's Discord channel. */
  live?: LiveTarget,
): Promise<Run> {
  return (await queueRun(ctx, input, trigger, live)).run;
}

/**
 * createRun, once per Discord message: with `discord_message_id`, a second call for the same
 * message (a resumed Gateway session, a retried relay batch) inserts nothing, because
 * runs.discord_message_id is unique, and answers the first call's run with created: false.
 * The caller's visibility is checked here; the rest is one call to the channel's session
 * (ChannelSession.queueRun, which runs insertRun), the same one /loop ask's session makes.
 */
export async function queueRun(
  ctx: DomainContext,
  input: { channel_id: string | ChannelRow; prompt: string; task_id?: number; discord_message_id?: string },
  trigger: RunTrigger,
  live?: LiveTarget,
): Promise<QueuedRun> {
  const channel = await channelRef(ctx, input.channel_id);
  return sessionOf(ctx.env, channel.id).queueRun(channel.id, {
    prompt: input.prompt,
    trigger,
    requestedBy: actorLabel(ctx.actor),
    taskId: input.task_id ?? null,
    discordMessageId: input.discord_message_id ?? null,
    live,
  });
}

/** What the queue needs of the run holding a channel (ChannelSession's pump). */
export type HolderState = Pick<RunRow, "status" | "deferrals">;

/**
 * Inserts a queued run (ChannelSession.queueRun's first step). When the request's Discord
 * message already has its run (runs.discord_message_id is unique), that run is the answer.
 * `holderId`: the run holding the channel, whose state is read in the same D1 round trip
 * (`holder`; undefined if that run is gone), so queueing behind a busy channel costs one
 * round trip, not two (issue 15).
 */
export async function insertRun(
  db: Db,
  channelId: string,
  request: RunRequest,
  holderId?: number,
): Promise<{ row: RunRow; created: boolean; holder?: HolderState | undefined }> {
  const insert = db
    .insert(runs)
    .values({
      channelId,
      taskId: request.taskId ?? null,
      trigger: request.trigger,
      prompt: request.prompt,
      status: "queued",
      requestedBy: request.requestedBy,
      discordMessageId: request.discordMessageId ?? null,
      createdAt: Date.now(),
    })
    // The only unique key this row can meet is runs_discord_message (its task has no
    // occurrence, it is no loop iteration). No target: that index is partial, and drizzle
    // puts a target's WHERE after DO NOTHING, where SQLite does not take it.
    .onConflictDoNothing()
    .returning();
  let row: RunRow | undefined;
  let holder: HolderState | undefined;
  if (holderId === undefined) [row] = await insert;
  else {
    const [inserted, held] = await db.batch([insert, db.select({ status: runs.status, deferrals: runs.deferrals }).from(runs).where(eq(runs.id, holderId))]);
    [row] = inserted;
    [holder] = held;
  }
  if (row) return { row, created: true, holder };
  const first = await db.query.runs.findFirst({ where: eq(runs.discordMessageId, request.discordMessageId!) });
  return { row: first!, created: false, holder };
}

/**
 * Runs a task's prompt now, outside its schedule; the schedule is left alone. The run is
 * linked to the task (scheduled_for stays null, so it never collides with an occurrence).
 */
export async function runTaskNow(ctx: DomainContext, taskId: number, trigger: RunTrigger): Promise<Run> {
  const task = await loadTask(ctx, taskId);
  return createRun(ctx, { channel_id: task.channelId, prompt: task.prompt, task_id: task.id }, trigger);
}

/**
 * The run holding the channel, as its ChannelSession knows it (the one handed to the
 * Dispatcher), or null when the channel is free. A run that ended without the channel
 * hearing of it yet does not count.
 */
export async function activeRun(ctx: DomainContext, channel: ChannelRow): Promise<RunRow | null> {
  const id = await sessionOf(ctx.env, channel.id).activeRun();
  if (id === null) return null;
  const row = await ctx.db.query.runs.findFirst({ where: eq(runs.id, id) });
  return row && !isTerminal(row.status) ? row : null;
}

export async function cancelRun(ctx: DomainContext, id: number): Promise<CancelOutcome> {
  const run = await loadRun(ctx, id);
  return sessionOf(ctx.env, run.channelId).cancel(run.channelId, id);
}

/** The run's events after `afterSeq` (0: all of them), then live ones, then its completion. */
export async function streamRun(ctx: DomainContext, id: number, afterSeq = 0): Promise<ReadableStream<Uint8Array>> {
  const run = await loadRun(ctx, id);
  return sessionOf(ctx.env, run.channelId).stream(id, afterSeq);
}
