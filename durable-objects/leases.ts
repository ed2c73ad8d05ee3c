/**
 * The Dispatcher's jobs and leases, over its SQLite storage: the `jobs` and `done` tables
 * (docs/storage.md) and the lease policy. A component of the Dispatcher, as RunWatchers is of
 * ChannelSession: no D1, no RPC, no clock of its own (callers pass `now`).
 *
 * Policy: a claimed job is leased for the lease TTL; heartbeats and event batches extend it.
 * A lease that runs out puts the run back once (attempt 2) and then ends it as "lost". A
 * lease that was never acknowledged (the claimer vanished before its first request) goes
 * back without using up an attempt. A runner may also hand a lease back at once (it restarted
 * or is stopping, issue 15): that ends the lease as expiry would, but a hand-back proves the
 * runner got the job, so it always uses up the attempt. A fresh lease runs only LEASE_ACK_MS
 * until its runner's first request under it (an event batch, a heartbeat or the completion,
 * sent FIRST_CONTACT_MS after the claim's answer): a claim can be answered after its
 * runner died (nothing tells the Worker a long poll's client is gone, reliably: `wrangler
 * dev` never aborts request.signal, and a host that loses power sends no FIN), and such a
 * job must go back in seconds, not after a whole lease TTL. Every step is synchronous SQL,
 * so two claims can never take one job (the object's input gate stays closed between the
 * select and the update).
 */
import { randomId } from "../core/domain/secrets.ts";
import { FIRST_CONTACT_MS, type AbandonReason } from "../protocol/runner.ts";
import type { DispatcherCancel, LeaseCheck, LeaseInfo } from "./contracts.ts";

export const MAX_ATTEMPTS = 2;
/**
 * Past the runner's deferred first contact, time for it to get through: a runner whose
 * first request fails tries again every second (runner/heartbeat.ts).
 */
const ACK_RETRY_MARGIN_MS = 10_000;
/**
 * How long a runner has to acknowledge a lease it was handed: its first request under it,
 * which it sends FIRST_CONTACT_MS after the claim's answer (protocol/runner.ts), plus the
 * retry margin. An unacknowledged lease goes back without using up an attempt, so this only
 * bounds how long a job handed to a dead claim waits: 14 s.
 */
export const LEASE_ACK_MS = FIRST_CONTACT_MS + ACK_RETRY_MARGIN_MS;
/** Remembered completions, so a retried complete is answered as a duplicate. */
const DONE_RETENTION_MS = 86_400_000;
/** Events of lease n are numbered from (n-1)·SEQ_STRIDE + 1, so attempts never collide. */
export const SEQ_STRIDE = 1_000_000;

const DDL = `
  CREATE TABLE IF NOT EXISTS jobs (
    run_id INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, label TEXT,
    state TEXT NOT NULL DEFAULT 'pending', enqueued_at INTEGER NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1, lease_count INTEGER NOT NULL DEFAULT 0,
    lease_id TEXT, runner_id TEXT, lease_expires_at INTEGER,
    acked INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);
  CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, enqueued_at);
  CREATE TABLE IF NOT EXISTS done (run_id INTEGER PRIMARY KEY, body_hash TEXT NOT NULL, at INTEGER NOT NULL);`;

/** A storage row; private to this module (callers see Lease and Expiry). */
interface JobRow extends Record<string, SqlStorageValue> {
  run_id: number;
  channel_id: string;
  label: string | null;
  state: "pending" | "leased";
  enqueued_at: number;
  attempt: number;
  lease_count: number;
  lease_id: string | null;
  runner_id: string | null;
  lease_expires_at: number | null;
  acked: number;
  cancel_requested: number;
}

/** A job just leased to a runner. */
export interface Lease {
  runId: number;
  channelId: string;
  leaseId: string;
  attempt: number;
  /** How many times this run has been leased, this one included. */
  leaseCount: number;
  /** The first event seq of this lease. */
  firstSeq: number;
  expiresAt: number;
}

/** Why a lease ended without a result: it ran out, or its runner handed it back. */
export type ReleaseCause = "expired" | AbandonReason;

/** What became of a lease that ended without a result (the run's D1 row is the caller's to move). */
export type Release = { runId: number; channelId: string; runnerId: string | null; attempt: number; acked: boolean; cause: ReleaseCause } & (
  | { outcome: "requeued"; nextAttempt: number }
  | { outcome: "ended"; status: "cancelled" | "lost"; error: string }
);

/** What a complete finds: the lease it may settle, or why it may not. */
export type CompleteCheck = { held: true; channelId: string } | { held: false; duplicate: true } | { held: false; duplicate: false; reason: string };

export class Leases {
  readonly #sql: SqlStorage;
  readonly ttlMs: number;

  constructor(sql: SqlStorage, ttlMs: number) {
    this.#sql = sql;
    this.ttlMs = ttlMs;
    this.#sql.exec(DDL);
  }

  /**
   * A channel's next run is ready. Idempotent per run. A run resumed after approval already
   * has events up to `seqFloor`: its lease count starts past them, so its seqs never collide.
   */
  add(runId: number, channelId: string, label: string | null, now: number, seqFloor = 0): void {
    this.#sql.exec(
      "INSERT INTO jobs (run_id, channel_id, label, enqueued_at, lease_count) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
      runId,
      channelId,
      label,
      now,
      Math.ceil(seqFloor / SEQ_STRIDE),
    );
  }

  /** Leases the oldest pending job a runner with these labels may run, or null. */
  takeNext(runnerId: string, labels: string[], now: number): Lease | null {
    const wanted = labels.length ? labels : [""];
    const row = this.#sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE state = 'pending' AND (label IS NULL OR label IN (${wanted.map(() => "?").join(",")}))
         ORDER BY enqueued_at, run_id LIMIT 1`,
        ...wanted,
      )
      .toArray()[0];
    if (!row) return null;
    const leaseId = randomId("lease_");
    // Until the runner's first request under it, the lease runs only the acknowledgement window.
    const expiresAt = now + Math.min(LEASE_ACK_MS, this.ttlMs);
    const leaseCount = row.lease_count + 1;
    this.#sql.exec(
      `UPDATE jobs SET state = 'leased', lease_id = ?, runner_id = ?, lease_expires_at = ?, lease_count = ?, acked = 0 WHERE run_id = ?`,
      leaseId,
      runnerId,
      expiresAt,
      leaseCount,
      row.run_id,
    );
    return {
      runId: row.run_id,
      channelId: row.channel_id,
      leaseId,
      attempt: row.attempt,
      leaseCount,
      firstSeq: (leaseCount - 1) * SEQ_STRIDE + 1,
      expiresAt,
    };
  }

  /** Forgets a job (cancelled or finished while it waited). */
  drop(runId: number): void {
    this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", runId);
  }

  /** Extends a lease this runner holds and marks it acknowledged; says whether to stop. */
  extend(runnerId: string, runId: number, leaseId: string, now: number): LeaseCheck {
    const row = this.#held(runnerId, runId, leaseId);
    if (!row) return { ok: false, reason: this.#whyNotHeld(runId) };
    const leaseExpiresAt = now + this.ttlMs;
    this.#sql.exec("UPDATE jobs SET lease_expires_at = ?, acked = 1 WHERE run_id = ?", leaseExpiresAt, runId);
    return { ok: true, cancel: row.cancel_requested === 1, leaseExpiresAt, channelId: row.channel_id };
  }

  /** May this completion (hashed) settle the run? A retry of the accepted one is a duplicate. */
  checkComplete(runnerId: string, runId: number, leaseId: string, bodyHash: string): CompleteCheck {
    const row = this.#held(runnerId, runId, leaseId);
    if (row) return { held: true, channelId: row.channel_id };
    const done = this.#sql.exec<{ body_hash: string }>("SELECT body_hash FROM done WHERE run_id = ?", runId).toArray()[0];
    if (done?.body_hash === bodyHash) return { held: false, duplicate: true };
    return { held: false, duplicate: false, reason: done ? "this run was already completed with a different result" : this.#whyNotHeld(runId) };
  }

  /** The run is settled: drop its job and remember the completion for a while. */
  settle(runId: number, bodyHash: string, now: number): void {
    this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", runId);
    this.#sql.exec("INSERT OR REPLACE INTO done (run_id, body_hash, at) VALUES (?, ?, ?)", runId, bodyHash, now);
    this.#sql.exec("DELETE FROM done WHERE at < ?", now - DONE_RETENTION_MS);
  }

  /** A pending job is dropped ("removed"); a leased one is flagged for its next heartbeat. */
  cancel(runId: number): DispatcherCancel {
    const row = this.#job(runId);
    if (!row) return "unknown";
    if (row.state === "pending") {
      this.drop(runId);
      return "removed";
    }
    this.#sql.exec("UPDATE jobs SET cancel_requested = 1 WHERE run_id = ?", runId);
    return "signalled";
  }

  list(): LeaseInfo[] {
    return this.#sql
      .exec<JobRow>("SELECT * FROM jobs WHERE state = 'leased' ORDER BY run_id")
      .toArray()
      .map((r) => ({ runId: r.run_id, channelId: r.channel_id, runnerId: r.runner_id!, attempt: r.attempt, expiresAt: r.lease_expires_at! }));
  }

  /** Makes a lease run out now (its claimer left before it was handed over). */
  expireNow(runId: number, now: number): void {
    this.#sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE run_id = ?", now, runId);
  }

  /** Applies the policy to every lease that ran out by `now`, and says what it did. */
  expire(now: number): Release[] {
    return this.#sql
      .exec<JobRow>("SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at <= ?", now)
      .toArray()
      .map((job) => this.#release(job, "expired"));
  }

  /**
   * The runner gives its lease back without a result: it ends now, as if it had expired. The
   * hand-back itself acknowledges the lease: the runner got the job and may have run it for
   * up to FIRST_CONTACT_MS before saying a word, so the attempt is used up (a job that kills
   * its runner each time still ends after MAX_ATTEMPTS).
   */
  handBack(runnerId: string, runId: number, leaseId: string, reason: AbandonReason): Release | { outcome: "not_held"; reason: string } {
    const row = this.#held(runnerId, runId, leaseId);
    return row ? this.#release({ ...row, acked: 1 }, reason) : { outcome: "not_held", reason: this.#whyNotHeld(runId) };
  }

  /**
   * A lease ends without a result: the run goes back for its next attempt, or ends (lost, or
   * cancelled when a cancel was pending). A lease that ran out never acknowledged most likely
   * went to a claim whose runner was gone, so it goes back without using up an attempt.
   */
  #release(job: JobRow, cause: ReleaseCause): Release {
    const base = { runId: job.run_id, channelId: job.channel_id, runnerId: job.runner_id, attempt: job.attempt, acked: job.acked === 1, cause };
    const attempt = job.acked ? job.attempt + 1 : job.attempt;
    if (job.cancel_requested || attempt > MAX_ATTEMPTS) {
      this.drop(job.run_id);
      if (job.cancel_requested) return { ...base, outcome: "ended", status: "cancelled", error: "cancelled; the runner stopped responding before confirming" };
      const why = { expired: `no heartbeat for ${Math.round(this.ttlMs / 1000)} s`, restart: "its runner restarted", shutdown: "its runner shut down" }[cause];
      return { ...base, outcome: "ended", status: "lost", error: `runner lost: ${why} on attempt ${job.attempt} of ${MAX_ATTEMPTS}` };
    }
    this.#sql.exec(
      `UPDATE jobs SET state = 'pending', attempt = ?, lease_id = NULL, runner_id = NULL,
       lease_expires_at = NULL, acked = 0 WHERE run_id = ?`,
      attempt,
      job.run_id,
    );
    return { ...base, outcome: "requeued", nextAttempt: attempt };
  }

  /** When the next lease runs out (the Dispatcher's alarm), or null when none is held. */
  nextExpiry(): number | null {
    return this.#sql.exec<{ at: number | null }>("SELECT MIN(lease_expires_at) AS at FROM jobs WHERE state = 'leased'").toArray()[0]?.at ?? null;
  }

  #job(runId: number): JobRow | undefined {
    return this.#sql.exec<JobRow>("SELECT * FROM jobs WHERE run_id = ?", runId).toArray()[0];
  }

  #held(runnerId: string, runId: number, leaseId: string): JobRow | undefined {
    const row = this.#job(runId);
    return row && row.state === "leased" && row.runner_id === runnerId && row.lease_id === leaseId ? row : undefined;
  }

  #whyNotHeld(runId: number): string {
    const row = this.#job(runId);
    if (!row) return "this run is not leased (it finished, was cancelled, or its lease expired)";
    return row.state === "pending" ? "the lease expired and the run went back to the queue" : "the run is leased to another attempt";
  }
}
