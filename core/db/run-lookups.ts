/**
 * The run lookups that stand on partial indexes (migration 0009; docs/storage.md), kept as
 * query builders so test/worker/indexes.test.ts can ask SQLite for their plans.
 *
 * SQLite uses a partial index only when the query's WHERE implies the index's. `col = ?` and
 * `col <= ?` imply `col IS NOT NULL`, so those need nothing special. But SQLite does not reason
 * that `status = 'queued'` implies `status <> 'succeeded'`: a lookup on runs_status carries the
 * index's own condition as a literal term (NOT_SUCCEEDED). Literal, not eq(): drizzle binds a
 * value as a parameter, which SQLite matches against an index's literal only by planning the
 * statement again once it is bound. Without the index, the sweep's look for stuck queues would
 * read every run, every minute.
 */
import { and, asc, count, eq, gte, inArray, lt, lte, sql, type SQL } from "drizzle-orm";
import type { RunStatus } from "../../protocol/api.ts";
import type { Db } from "./client.ts";
import { runs } from "./schema.ts";

/** The condition runs_status is defined by. */
const NOT_SUCCEEDED = sql`${runs.status} <> 'succeeded'`;
/** `status = 'queued'`, in the form runs_status serves. */
export const RUN_QUEUED = and(sql`${runs.status} = 'queued'`, NOT_SUCCEEDED)!;
/** `fired_by = 'sweep'`, the condition of runs_rescued. */
export const RUN_RESCUED = sql`${runs.firedBy} = 'sweep'`;

/** `status = <status>`; on runs_status for every status it holds. */
export const runStatusIs = (status: RunStatus): SQL => (status === "succeeded" ? eq(runs.status, status) : and(eq(runs.status, status), NOT_SUCCEEDED)!);

/** `status IN (<statuses>)`, none of them succeeded: on runs_status. */
export const runStatusIn = (statuses: readonly Exclude<RunStatus, "succeeded">[]): SQL => and(inArray(runs.status, [...statuses]), NOT_SUCCEEDED)!;

/** A channel's oldest queued run, the next to hand out. */
export const nextQueuedRun = (db: Db, channelId: string) =>
  db.query.runs.findFirst({ where: and(eq(runs.channelId, channelId), RUN_QUEUED), orderBy: asc(runs.id), columns: { id: true } });

/** Channels with a run queued since before `before`. */
export const channelsQueuedBefore = (db: Db, before: number, limit: number) =>
  db.selectDistinct({ channelId: runs.channelId }).from(runs).where(and(RUN_QUEUED, lt(runs.createdAt, before))).limit(limit);

/** How many occurrences the sweep fired itself since `since` (runs_rescued). */
export const rescuedCount = (db: Db, since: number) =>
  db.select({ n: count() }).from(runs).where(and(RUN_RESCUED, gte(runs.createdAt, since)));

/** Held calls whose approval timeout has passed (runs_approval_expires). */
export const expiredApprovals = (db: Db, now: number, limit: number) =>
  db.query.runs.findMany({ where: and(eq(runs.status, "waiting_approval"), lte(runs.approvalExpiresAt, now)), limit });
