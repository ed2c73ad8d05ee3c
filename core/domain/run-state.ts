/**
 * A run's life in D1: queued → running → succeeded | failed | cancelled | lost, or
 * queued → skipped_budget when it would start past a spending cap, and running →
 * waiting_approval → queued (a decision) → running … for held calls (issue 13). Every
 * transition is a conditional update from the state it expects, so a late or repeated
 * message can never move a finished run again.
 */
import { and, eq, inArray, isNull, sql, type SQL } from "drizzle-orm";
import type { Completion, Job, RunEventData, WireEvent } from "../../protocol/runner.ts";
import type { Db } from "../db/client.ts";
import type { RunLimits } from "../../protocol/spend.ts";
import { apiTokens, channels, runs, tasks, type ChannelRow, type RunRow } from "../db/schema.ts";
import { resolveLimits } from "./limits.ts";
import { scheduleThreadDeletion } from "./thread-deletions.ts";
import { mintSecret, randomId, sha256Hex } from "./secrets.ts";

export const TERMINAL = ["succeeded", "failed", "cancelled", "lost", "skipped_budget"] as const;
export const isTerminal = (status: RunRow["status"]): boolean => (TERMINAL as readonly string[]).includes(status);

/** Marks a queued run as running for a lease; null if it is no longer queued (cancelled). */
export async function startRun(
  db: Db,
  runId: number,
  runnerId: string,
  attempt: number,
  now: number,
): Promise<{ run: RunRow; channel: ChannelRow; worktree: Job["worktree"]; limits: RunLimits } | null> {
  const [run] = await db
    .update(runs)
    .set({ status: "running", startedAt: now, attempt, runnerId })
    .where(and(eq(runs.id, runId), eq(runs.status, "queued")))
    .returning();
  if (!run) return null;
  const [channel, task] = await Promise.all([
    db.query.channels.findFirst({ where: eq(channels.id, run.channelId) }),
    run.taskId === null
      ? undefined
      : db.query.tasks.findFirst({ where: eq(tasks.id, run.taskId), columns: { id: true, worktree: true, originBranch: true, updateBeforeRun: true, maxTurns: true, maxBudgetUsd: true, timeoutSec: true } }),
  ]);
  if (!channel) return null;
  const worktree = task?.worktree ? { task_id: task.id, origin_branch: task.originBranch, update_before_run: task.updateBeforeRun } : null;
  const limits = resolveLimits(channel, task ?? null);
  // A Discord thread without a directory of its own works in its parent channel's.
  if (!channel.dirPath && channel.parentId) {
    const parent = await db.query.channels.findFirst({ where: eq(channels.id, channel.parentId), columns: { dirPath: true } });
    return { run, channel: { ...channel, dirPath: parent?.dirPath ?? null }, worktree, limits };
  }
  return { run, channel, worktree, limits };
}

/** A run token: an API token scoped to the run's channel, valid until the run ends. */
export async function mintRunToken(db: Db, run: RunRow, ttlMs: number, now: number): Promise<string> {
  const secret = mintSecret("run");
  await db.insert(apiTokens).values({
    id: randomId("tok_"),
    name: `run ${run.id}`,
    tokenHash: await sha256Hex(secret),
    scope: [run.channelId],
    runId: run.id,
    expiresAt: now + ttlMs,
    createdAt: now,
  });
  return secret;
}

export async function revokeRunTokens(db: Db, runId: number): Promise<void> {
  await db.delete(apiTokens).where(eq(apiTokens.runId, runId));
}

/** A run that waited for approval runs in several containers: its usage is their sum. */
const plus = (column: SQLiteColumnLike, value: number | null | undefined): SQL | undefined =>
  value == null ? undefined : sql`coalesce(${column}, 0) + ${value}`;
type SQLiteColumnLike = typeof runs.inputTokens | typeof runs.outputTokens | typeof runs.cacheReadTokens | typeof runs.cacheWriteTokens | typeof runs.costUsd;

const usageOf = (c: Completion) => ({
  sessionId: c.session_id,
  inputTokens: plus(runs.inputTokens, c.usage?.input_tokens),
  outputTokens: plus(runs.outputTokens, c.usage?.output_tokens),
  cacheReadTokens: plus(runs.cacheReadTokens, c.usage?.cache_read_tokens),
  cacheWriteTokens: plus(runs.cacheWriteTokens, c.usage?.cache_write_tokens),
  costUsd: plus(runs.costUsd, c.cost_usd),
  exitCode: c.exit_code,
  model: c.model,
});

export async function finishRun(db: Db, runId: number, c: Completion, now: number): Promise<RunRow | null> {
  if (c.status === "deferred") throw new Error("a deferred completion parks the run: use parkRun");
  // With the end, the run's thread (if it has one yet) is due for auto_delete_sec.
  const [[row]] = await db.batch([
    db
      .update(runs)
      .set({ status: c.status, finishedAt: now, resultText: c.result_text, error: c.error, ...usageOf(c) })
      .where(and(eq(runs.id, runId), eq(runs.status, "running")))
      .returning(),
    scheduleThreadDeletion(db, runId),
  ]);
  await revokeRunTokens(db, runId);
  if (row && c.session_id) {
    // The thread this run posted in continues its conversation (unless it has one already).
    await db
      .update(channels)
      .set({ sessionId: c.session_id, updatedAt: now })
      .where(and(eq(channels.originRunId, runId), isNull(channels.sessionId)));
  }
  return row ?? null;
}

/**
 * The runner stopped at a call the policy holds for a person: the run waits, holding its
 * channel's queue, with the call on its row. Nothing on a runner waits with it.
 */
export async function parkRun(db: Db, runId: number, c: Completion, timeoutMs: number, now: number): Promise<RunRow | null> {
  const call = c.deferred_tool_use;
  if (!call) throw new Error("parkRun needs the deferred call");
  const current = await db.query.runs.findFirst({ where: eq(runs.id, runId), columns: { deferrals: true } });
  if (!current) return null;
  const deferral = current.deferrals + 1;
  const [row] = await db
    .update(runs)
    .set({
      status: "waiting_approval",
      deferrals: deferral,
      pendingApproval: { deferral, toolUseId: call.id, toolName: call.name, input: call.input, requestedAt: now },
      approvalExpiresAt: now + timeoutMs,
      resultText: c.result_text,
      ...usageOf(c),
    })
    .where(and(eq(runs.id, runId), eq(runs.status, "running"), eq(runs.deferrals, current.deferrals)))
    .returning();
  await revokeRunTokens(db, runId);
  return row ?? null;
}

/** Ends a run the runner cannot finish: lost (no heartbeat) or cancelled before it ran. */
export async function endRun(
  db: Db,
  runId: number,
  status: "lost" | "cancelled" | "failed" | "skipped_budget",
  error: string,
  now: number,
): Promise<RunRow | null> {
  const [[row]] = await db.batch([
    db
      .update(runs)
      .set({ status, error, finishedAt: now })
      .where(and(eq(runs.id, runId), inArray(runs.status, ["queued", "running", "waiting_approval"])))
      .returning(),
    scheduleThreadDeletion(db, runId),
  ]);
  await revokeRunTokens(db, runId);
  return row ?? null;
}

/** Puts a run whose runner vanished back in line for its next attempt. */
export async function requeueRun(db: Db, runId: number, attempt: number): Promise<void> {
  await db
    .update(runs)
    .set({ status: "queued", attempt, runnerId: null, startedAt: null })
    .where(and(eq(runs.id, runId), eq(runs.status, "running")));
  await revokeRunTokens(db, runId);
}

/**
 * Stores a batch of events in one D1 round trip (a multi-row insert per 20 events), not a
 * write per event. A seq already stored is ignored, so retried batches are harmless.
 */
export async function insertEvents(d1: D1Database, runId: number, events: WireEvent[]): Promise<number> {
  const statements: D1PreparedStatement[] = [];
  for (let i = 0; i < events.length; i += EVENTS_PER_STATEMENT) {
    const chunk = events.slice(i, i + EVENTS_PER_STATEMENT);
    statements.push(
      d1
        .prepare(
          `INSERT INTO run_events (run_id, seq, type, payload, at) VALUES ${chunk.map(() => "(?, ?, ?, ?, ?)").join(", ")}
           ON CONFLICT (run_id, seq) DO NOTHING`,
        )
        .bind(...chunk.flatMap((e) => [runId, e.seq, e.data.type, JSON.stringify(e.data), e.at])),
    );
  }
  if (!statements.length) return 0;
  const results = await d1.batch(statements);
  return results.reduce((n, r) => n + r.meta.changes, 0);
}

/**
 * An event the Worker writes itself (an approval asked for or decided), numbered after the
 * run's last stored event in the same statement. A later lease starts past it (seqFloor).
 */
export async function appendEvent(d1: D1Database, runId: number, data: RunEventData, at: number): Promise<WireEvent> {
  const row = await d1
    .prepare(
      `INSERT INTO run_events (run_id, seq, type, payload, at)
       SELECT ?1, coalesce(max(seq), 0) + 1, ?2, ?3, ?4 FROM run_events WHERE run_id = ?1 RETURNING seq`,
    )
    .bind(runId, data.type, JSON.stringify(data), at)
    .first<{ seq: number }>();
  return { seq: row!.seq, at, data };
}

/** The highest event seq stored for a run (0 when none): a resumed run's lease numbers past it. */
export async function lastEventSeq(d1: D1Database, runId: number): Promise<number> {
  const row = await d1.prepare("SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = ?").bind(runId).first<{ seq: number }>();
  return row?.seq ?? 0;
}

/** D1 binds at most 100 parameters per statement; an event takes 5. */
const EVENTS_PER_STATEMENT = 20;
