/**
 * Loops as people and agents drive them (docs/loops.md): start, stop, read, and the
 * agent's loop_done. One rule each for REST, MCP and Discord. The iterations themselves
 * move through the run pipeline (core/loops/iterations.ts).
 */
import { and, asc, desc, eq, inArray, type SQL } from "drizzle-orm";
import {
  MAX_LOOP_EVERY_MS,
  MIN_LOOP_EVERY_MS,
  ListLoopsQuery,
  type Loop,
  type LoopIteration,
  type LoopWithIterations,
  type RunTrigger,
  StartLoop,
} from "../../protocol/api.ts";
import type { z } from "zod";
import { sessionOf } from "../../durable-objects/contracts.ts";
import { loops, runs, type ChannelRow, type LoopRow, type RunRow } from "../db/schema.ts";
import { conflict, invalid, notFound } from "../errors.ts";
import { actorLabel, canSeeChannel, visibleChannels } from "./actor.ts";
import { channelRef } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { formatInterval, parseDuration } from "./schedule-grammar.ts";
import { iso } from "./views.ts";

/** A validated StartLoop body; Discord passes the channel it has already loaded. */
export type StartLoopInput = Omit<z.output<typeof StartLoop>, "channel_id"> & { channel_id: string | ChannelRow };

export function loopView(l: LoopRow): Loop {
  return {
    id: l.id,
    channel_id: l.channelId,
    status: l.status,
    prompt: l.prompt,
    system_prompt: l.systemPrompt,
    max_iterations: l.maxIterations,
    every_ms: l.everyMs,
    fresh_session: l.freshSession,
    until: l.untilText,
    monitor_command: l.monitorCommand,
    monitor_every_ms: l.monitorEveryMs,
    iteration: l.iteration,
    next_at: iso(l.nextAt),
    end_reason: l.endReason,
    summary: l.summary,
    created_at: new Date(l.createdAt).toISOString(),
    ended_at: iso(l.endedAt),
  };
}

export function iterationView(r: RunRow): LoopIteration {
  return {
    iteration: r.iteration!,
    run_id: r.id,
    status: r.status,
    prompt: r.prompt,
    result_text: r.resultText,
    error: r.error,
    monitor_output: r.monitorOutput,
    monitor_exit_code: r.monitorExitCode,
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    cost_usd: r.costUsd,
  };
}

/** A Go duration between MIN_LOOP_EVERY_MS and MAX_LOOP_EVERY_MS; "0" or nothing is 0. */
function loopDuration(text: string | null | undefined, field: string): number {
  if (text == null || text === "0") return 0;
  const ms = parseDuration(text);
  if (ms === null) throw invalid(`${field}: "${text}" is not a duration; use Go durations such as "2s", "30s", "5m" or "1h30m".`, field);
  if (ms === 0) return 0;
  if (ms < MIN_LOOP_EVERY_MS) throw invalid(`${field}: "${text}" is shorter than the minimum of ${formatInterval(MIN_LOOP_EVERY_MS)}.`, field);
  if (ms > MAX_LOOP_EVERY_MS) throw invalid(`${field}: "${text}" is longer than the maximum of ${formatInterval(MAX_LOOP_EVERY_MS)}.`, field);
  return ms;
}

/**
 * Starts a loop on a channel and queues its first iteration. A channel runs one loop at a
 * time: a partial unique index on running loops makes a second start a 409.
 */
export async function startLoop(ctx: DomainContext, input: StartLoopInput, trigger: RunTrigger): Promise<Loop> {
  const channel = await channelRef(ctx, input.channel_id);
  const everyMs = loopDuration(input.every, "every");
  const monitorEveryMs = loopDuration(input.monitor_every, "monitor_every");
  if (monitorEveryMs && !input.monitor_command) throw invalid("monitor_every needs a monitor_command.", "monitor_every");
  const now = Date.now();
  const requestedBy = actorLabel(ctx.actor);
  const [loop] = await ctx.db
    .insert(loops)
    .values({
      channelId: channel.id,
      status: "running",
      prompt: input.prompt,
      systemPrompt: input.system_prompt || null,
      maxIterations: input.max_iterations,
      everyMs,
      freshSession: input.fresh_session,
      untilText: input.until ?? null,
      monitorCommand: input.monitor_command ?? null,
      monitorEveryMs,
      iteration: 1,
      requestedBy,
      createdAt: now,
    })
    .onConflictDoNothing()
    .returning();
  if (!loop) {
    const running = await ctx.db.query.loops.findFirst({ where: and(eq(loops.channelId, channel.id), eq(loops.status, "running")), columns: { id: true } });
    throw conflict(`This channel already runs loop #${running?.id ?? "?"}; stop it first (POST /api/loops/${running?.id ?? ":id"}/stop, /loop stop).`, "channel_id");
  }
  await ctx.db.insert(runs).values({ channelId: channel.id, trigger, status: "queued", prompt: input.prompt, loopId: loop.id, iteration: 1, requestedBy, createdAt: now });
  // One round trip: the channel posts the loop's live message and starts the iteration if free.
  await sessionOf(ctx.env, channel.id).loopStarted(channel.id, loop.id);
  return loopView(loop);
}

export async function loadLoop(ctx: DomainContext, id: number): Promise<LoopRow> {
  const row = await ctx.db.query.loops.findFirst({ where: eq(loops.id, id) });
  if (!row || !canSeeChannel(ctx.actor, row.channelId)) throw notFound("loop", id);
  return row;
}

export async function getLoop(ctx: DomainContext, id: number): Promise<LoopWithIterations> {
  const loop = await loadLoop(ctx, id);
  const iterations = await ctx.db.query.runs.findMany({ where: eq(runs.loopId, id), orderBy: asc(runs.iteration) });
  return { ...loopView(loop), iterations: iterations.map(iterationView) };
}

export async function listLoops(ctx: DomainContext, q: z.output<typeof ListLoopsQuery> & { channel_id?: string | ChannelRow | undefined }): Promise<Loop[]> {
  const where: SQL[] = [];
  if (q.channel_id) where.push(eq(loops.channelId, (await channelRef(ctx, q.channel_id)).id));
  else {
    const visible = visibleChannels(ctx.actor);
    if (visible) where.push(inArray(loops.channelId, visible));
  }
  if (q.status) where.push(eq(loops.status, q.status));
  const rows = await ctx.db.query.loops.findMany({ where: and(...where), orderBy: desc(loops.id), limit: q.limit });
  return rows.map(loopView);
}

/** The channel's running loop, if any. */
export async function runningLoop(ctx: DomainContext, ref: string | ChannelRow): Promise<LoopRow | null> {
  const channel = await channelRef(ctx, ref);
  return (await ctx.db.query.loops.findFirst({ where: and(eq(loops.channelId, channel.id), eq(loops.status, "running")) })) ?? null;
}

/**
 * Stops a loop: it ends as stopped, nothing further is queued, and its running iteration
 * is cancelled (a queued one outright, a running one through its runner). Stopping a loop
 * that has already ended changes nothing and says so.
 */
export async function stopLoop(ctx: DomainContext, id: number): Promise<{ loop: Loop; stopped: boolean }> {
  const loop = await loadLoop(ctx, id);
  const now = Date.now();
  const [stopped] = await ctx.db
    .update(loops)
    .set({ status: "stopped", endReason: "stopped", summary: `stopped by ${actorLabel(ctx.actor) ?? "admin"}`, endedAt: now, nextAt: null })
    .where(and(eq(loops.id, id), eq(loops.status, "running")))
    .returning();
  if (!stopped) return { loop: loopView(loop), stopped: false };
  await sessionOf(ctx.env, loop.channelId).loopStopped(loop.channelId, id);
  return { loop: loopView(stopped), stopped: true };
}

/**
 * The agent of an iteration says the work is finished. Only a run token of a loop's
 * iteration can say it; the loop ends when that iteration's run ends.
 */
export async function loopDone(ctx: DomainContext, summary: string): Promise<Loop> {
  if (ctx.actor.kind !== "run") throw invalid("loop_done only works inside a loop iteration (with its run token).", "summary");
  const run = await ctx.db.query.runs.findFirst({ where: eq(runs.id, ctx.actor.runId), columns: { loopId: true } });
  if (!run?.loopId) throw invalid("this run is not a loop iteration, so there is no loop to finish.", "summary");
  const [loop] = await ctx.db
    .update(loops)
    .set({ doneRunId: ctx.actor.runId, summary })
    .where(and(eq(loops.id, run.loopId), eq(loops.status, "running")))
    .returning();
  if (!loop) throw conflict(`loop #${run.loopId} has already ended.`);
  return loopView(loop);
}
