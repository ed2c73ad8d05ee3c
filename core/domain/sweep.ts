/**
 * The Cron Trigger's safety net, every minute: fire tasks whose alarm fell behind (through
 * the same ChannelSession path, so exactly-once still holds), move loops whose next
 * iteration was not queued, deny held tool calls whose approval_timeout ran out, delete
 * the Discord threads of runs whose task's auto_delete_sec has passed, and prune old run
 * events.
 */
import { and, eq, inArray, isNull, lt, or } from "drizzle-orm";
import { dispatcherOf, sessionOf } from "../../durable-objects/contracts.ts";
import type { Db } from "../db/client.ts";
import { channelsQueuedBefore, rescuedCount } from "../db/run-lookups.ts";
import { loops, runEvents, runs, tasks } from "../db/schema.ts";
import { TERMINAL } from "./run-state.ts";
import type { Config, Env } from "../env.ts";
import { log } from "../log.ts";
import { expireApprovals } from "./approvals.ts";
import { discordRest } from "../discord/rest.ts";
import { deleteDueThreads } from "./thread-deletions.ts";

/** An alarm is this late before the sweep steps in. */
export const SWEEP_GRACE_MS = 60_000;

const PRUNE_BATCH = 10_000;
/**
 * At most this many channels per kind of repair (overdue tasks, stuck queues, stalled loops)
 * per sweep: each is a Durable Object call, and the Cron invocation has the same CPU limit as
 * a request (10 ms on the Free plan). After an outage the rest follow a minute later (the
 * repaired ones no longer match); alarms, not the sweep, do the normal work.
 */
export const SWEEP_CHANNEL_BATCH = 50;

export interface SweepReport {
  channels: number;
  rescued: number;
  failedChannels: number;
  prunedEvents: number;
  leasesReaped: number;
  channelsPumped: number;
  loopsMoved: number;
  approvalsExpired: number;
  threadsDeleted: number;
}

export async function sweep(env: Env, db: Db, cfg: Config, now: number): Promise<SweepReport> {
  const overdue = await db
    .selectDistinct({ channelId: tasks.channelId })
    .from(tasks)
    .where(and(eq(tasks.enabled, true), lt(tasks.nextRunAt, now - SWEEP_GRACE_MS)))
    .limit(SWEEP_CHANNEL_BATCH);

  // One channel failing (or gone) never stops the others.
  const results = await Promise.allSettled(
    overdue.map(({ channelId }) => sessionOf(env, channelId).fire(channelId, "sweep")),
  );
  let rescued = 0;
  let failedChannels = 0;
  results.forEach((r, i) => {
    if (r.status === "fulfilled") rescued += r.value.length;
    else {
      failedChannels++;
      log.error("sweep: channel failed", { channelId: overdue[i]!.channelId, error: String(r.reason) });
    }
  });

  // Leases whose alarm did not fire, and channels whose "run ended" message was lost.
  const reaped = await dispatcherOf(env).reap(now);
  const stuck = await channelsQueuedBefore(db, now - SWEEP_GRACE_MS, SWEEP_CHANNEL_BATCH);
  await Promise.allSettled(stuck.map(({ channelId }) => sessionOf(env, channelId).enqueue(channelId)));

  // Running loops whose newest iteration ended a while ago with nothing queued after it (the
  // ChannelSession's word on its end was lost, or its wake-up): telling the channel again that
  // the run finished decides the loop's next step once more; every write there is conditional.
  const stalled = await db
    .select({ channelId: loops.channelId, runId: runs.id })
    .from(loops)
    .innerJoin(runs, and(eq(runs.loopId, loops.id), eq(runs.iteration, loops.iteration)))
    .where(
      and(
        eq(loops.status, "running"),
        inArray(runs.status, [...TERMINAL]),
        lt(runs.finishedAt, now - SWEEP_GRACE_MS),
        or(isNull(loops.nextAt), lt(loops.nextAt, now - SWEEP_GRACE_MS)),
      ),
    )
    .limit(SWEEP_CHANNEL_BATCH);
  await Promise.allSettled(stalled.map(({ channelId, runId }) => sessionOf(env, channelId).finished(channelId, runId)));
  // Held calls nobody decided on in time: denied with "no decision", and the run resumes.
  const expired = await expireApprovals(db, env, now);
  // Threads of runs whose task has auto_delete_sec, once that time has passed (failures wait for a later sweep).
  const threads = await deleteDueThreads(db, discordRest(cfg), now);

  // Bounded per sweep so a first prune of a large backlog cannot outrun the invocation.
  const old = db.select({ id: runEvents.id }).from(runEvents).where(lt(runEvents.at, now - cfg.eventRetentionMs)).limit(PRUNE_BATCH);
  const pruned = await db.delete(runEvents).where(inArray(runEvents.id, old)).run();
  const report = {
    channels: overdue.length,
    rescued,
    failedChannels,
    prunedEvents: pruned.meta.changes,
    leasesReaped: reaped.requeued.length + reaped.ended.length,
    channelsPumped: stuck.length,
    loopsMoved: stalled.length,
    approvalsExpired: expired.length,
    threadsDeleted: threads.deleted,
  };
  if (Object.values(report).some((n) => n > 0)) log.info("sweep: done", { ...report });
  return report;
}

/** How many occurrences the sweep had to fire itself since `since`. */
export async function rescuedSince(db: Db, since: number): Promise<number> {
  const [row] = await rescuedCount(db, since);
  return row?.n ?? 0;
}
