/**
 * A loop's iterations as the run pipeline sees them (docs/loops.md). Each iteration is an
 * ordinary run with loop_id and iteration set; these functions are the loop-specific steps
 * the Durable Objects take around it:
 *  - prepareIteration: when the Dispatcher leases an iteration, its prompt is built from
 *    memory, the latest monitor output and the previous answer (loop-prompt.ts);
 *  - recordMonitor: the runner reports the monitor command's output; the prompt is rebuilt
 *    with it;
 *  - iterationEnded: the ChannelSession hears that an iteration ended; working memory is
 *    cleared and loop-state.ts decides between the next iteration and the loop's end;
 *  - createIteration: the next iteration's run, exactly once per (loop, iteration).
 */
import { and, desc, eq, isNotNull, lt } from "drizzle-orm";
import { MONITOR_TIMEOUT_SEC, type MonitorReport, type MonitorSpec } from "../../protocol/runner.ts";
import type { Db } from "../db/client.ts";
import { channelMemory, loops, runs, type LoopRow, type RunRow } from "../db/schema.ts";
import { log } from "../log.ts";
import { iterationPrompt, type IterationParts } from "./loop-prompt.ts";
import { afterIteration, monitorDue } from "./loop-state.ts";

export interface PreparedIteration {
  prompt: string;
  appendSystemPrompt: string | null;
  /** The session to --resume: the loop's own when fresh_session is off, else none. */
  sessionId: string | null;
  monitor: MonitorSpec | null;
}

type MonitorPart = IterationParts["monitor"];

/** Builds a leased iteration's prompt and stores it as the run's prompt; null for a run outside a loop. */
export async function prepareIteration(db: Db, run: RunRow, now: number): Promise<PreparedIteration | null> {
  if (run.loopId === null || run.iteration === null) return null;
  const loop = await db.query.loops.findFirst({ where: eq(loops.id, run.loopId) });
  if (!loop) return null;
  const latest = await latestMonitor(db, loop, run.iteration);
  const due = monitorDue(loop, latest?.at ?? null, now);
  const prompt = await buildPrompt(db, loop, run, due ? null : latest);
  await db.update(runs).set({ prompt }).where(eq(runs.id, run.id));
  return {
    prompt,
    appendSystemPrompt: loop.systemPrompt,
    sessionId: loop.freshSession ? null : loop.sessionId,
    monitor: due ? { command: loop.monitorCommand!, timeout_sec: MONITOR_TIMEOUT_SEC } : null,
  };
}

/** Stores what the monitor printed with the iteration and answers the prompt built with it. */
export async function recordMonitor(db: Db, runId: number, report: MonitorReport, now: number): Promise<string | null> {
  const [run] = await db
    .update(runs)
    .set({ monitorOutput: report.output, monitorExitCode: report.exit_code, monitorAt: now })
    .where(and(eq(runs.id, runId), eq(runs.status, "running"), isNotNull(runs.loopId)))
    .returning();
  if (!run) return null;
  const loop = await db.query.loops.findFirst({ where: eq(loops.id, run.loopId!) });
  if (!loop?.monitorCommand) return null;
  const prompt = await buildPrompt(db, loop, run, { command: loop.monitorCommand, output: report.output, exitCode: report.exit_code, at: now });
  await db.update(runs).set({ prompt }).where(eq(runs.id, runId));
  log.info("loop: monitor reported", { loopId: loop.id, runId, exitCode: report.exit_code, chars: report.output.length, ms: report.duration_ms });
  return prompt;
}

async function buildPrompt(db: Db, loop: LoopRow, run: RunRow, monitor: MonitorPart): Promise<string> {
  const memory = await db.query.channelMemory.findFirst({ where: eq(channelMemory.channelId, loop.channelId) });
  const previous = await db.query.runs.findFirst({
    where: and(eq(runs.loopId, loop.id), eq(runs.iteration, run.iteration! - 1)),
    columns: { iteration: true, resultText: true },
  });
  return iterationPrompt({
    iteration: run.iteration!,
    maxIterations: loop.maxIterations,
    untilText: loop.untilText,
    prompt: loop.prompt,
    persistentMemory: memory?.persistent ?? "",
    workingMemory: memory?.working ?? "",
    monitor,
    previous: previous ? { iteration: previous.iteration!, answer: previous.resultText ?? "" } : null,
  });
}

/** The newest monitor output of the loop's iterations before `iteration`. */
async function latestMonitor(db: Db, loop: LoopRow, iteration: number): Promise<MonitorPart> {
  if (!loop.monitorCommand) return null;
  const row = await db.query.runs.findFirst({
    where: and(eq(runs.loopId, loop.id), lt(runs.iteration, iteration), isNotNull(runs.monitorAt)),
    orderBy: desc(runs.iteration),
    columns: { monitorOutput: true, monitorExitCode: true, monitorAt: true },
  });
  if (!row) return null;
  return { command: loop.monitorCommand, output: row.monitorOutput ?? "", exitCode: row.monitorExitCode, at: row.monitorAt! };
}

export type IterationOutcome =
  | { kind: "ignored" }
  | { kind: "ended"; loopId: number }
  /** The next iteration's run is queued (runId), or due later (at). */
  | { kind: "next"; loopId: number; runId: number | null; at: number };

/**
 * An iteration's run ended. Working memory is cleared (it lives for one iteration), a
 * kept session becomes the loop's, and the loop either ends or its next iteration is
 * queued now or at `at`. Every write is conditional on the loop still being at this
 * iteration and running, so a repeated "finished" changes nothing.
 */
export async function iterationEnded(d1: D1Database, db: Db, run: RunRow, now: number): Promise<IterationOutcome> {
  if (run.loopId === null || run.iteration === null) return { kind: "ignored" };
  const loop = await db.query.loops.findFirst({ where: eq(loops.id, run.loopId) });
  if (!loop) return { kind: "ignored" };
  const decision = afterIteration(loop, { runId: run.id, iteration: run.iteration, status: run.status, resultText: run.resultText, error: run.error, startedAt: run.startedAt }, now);
  if (decision.kind === "ignore") return { kind: "ignored" };

  await db.update(channelMemory).set({ working: "", updatedAt: now }).where(eq(channelMemory.channelId, loop.channelId));
  const stillHere = and(eq(loops.id, loop.id), eq(loops.status, "running"), eq(loops.iteration, run.iteration));
  const session = !loop.freshSession && run.sessionId ? { sessionId: run.sessionId } : {};

  if (decision.kind === "end") {
    const [ended] = await db
      .update(loops)
      .set({ status: decision.status, endReason: decision.reason, summary: decision.summary, endedAt: now, nextAt: null, ...session })
      .where(stillHere)
      .returning({ id: loops.id });
    if (ended) log.info("loop: ended", { loopId: loop.id, iteration: run.iteration, status: decision.status, reason: decision.reason });
    return ended ? { kind: "ended", loopId: loop.id } : { kind: "ignored" };
  }
  const [waiting] = await db
    .update(loops)
    .set({ failuresInRow: decision.failuresInRow, nextAt: decision.at, ...session })
    .where(stillHere)
    .returning({ id: loops.id });
  if (!waiting) return { kind: "ignored" };
  const runId = decision.at <= now ? await createIteration(d1, loop.id, decision.iteration, now) : null;
  return { kind: "next", loopId: loop.id, runId, at: decision.at };
}

/** The alarm found the loop's next iteration due: queue it (a no-op if it exists or the loop ended). */
export async function dueIteration(d1: D1Database, db: Db, loopId: number, now: number): Promise<number | null> {
  const loop = await db.query.loops.findFirst({ where: eq(loops.id, loopId) });
  if (!loop || loop.status !== "running" || loop.nextAt === null || loop.nextAt > now) return null;
  return createIteration(d1, loopId, loop.iteration + 1, now);
}

/**
 * Queues iteration n of a running loop that is at n - 1, exactly once: the run insert and
 * the loop's step are one batch, both conditional on the loop's state, and
 * UNIQUE(loop_id, iteration) refuses a second run. The run copies the loop's prompt (the
 * Dispatcher rebuilds it when it leases the run), trigger and requester.
 */
export async function createIteration(d1: D1Database, loopId: number, iteration: number, now: number): Promise<number | null> {
  const [inserted] = await d1.batch<{ id: number }>([
    d1
      .prepare(
        `INSERT INTO runs (channel_id, trigger, status, prompt, loop_id, iteration, requested_by, created_at)
         SELECT l.channel_id, p.trigger, 'queued', l.prompt, l.id, ?2, p.requested_by, ?3
         FROM loops l JOIN runs p ON p.loop_id = l.id AND p.iteration = ?2 - 1
         WHERE l.id = ?1 AND l.status = 'running' AND l.iteration = ?2 - 1
         ON CONFLICT (loop_id, iteration) WHERE loop_id IS NOT NULL DO NOTHING RETURNING id`,
      )
      .bind(loopId, iteration, now),
    d1.prepare(`UPDATE loops SET iteration = ?2, next_at = NULL WHERE id = ?1 AND status = 'running' AND iteration = ?2 - 1`).bind(loopId, iteration),
  ]);
  const runId = inserted?.results[0]?.id ?? null;
  if (runId !== null) log.info("loop: iteration queued", { loopId, iteration, runId });
  return runId;
}
