/**
 * Dispatcher: one per runner pool (named "default"). Holds the jobs that channels have
 * made ready, leases them to runners, and answers parked long-poll claims the moment a
 * job arrives. Storage: the `jobs` and `done` tables below (docs/storage.md).
 *
 * Leases: a claimed job is leased for LEASE_TTL; heartbeats and event batches extend it.
 * A lease that runs out, or that its runner hands back (handBack: it restarted, or is
 * stopping), puts the run back once (attempt 2) and then ends it as "lost". A
 * lease that was never acknowledged (the claimer vanished before its first heartbeat)
 * goes back without using up an attempt.
 */
import { DurableObject } from "cloudflare:workers";
import type { AbandonReason, Completion, Job } from "../protocol/runner.ts";
import { db, type Db } from "../worker/db/client.ts";
import { endRun, finishRun, mintRunToken, requeueRun, startRun } from "../worker/domain/run-state.ts";
import { randomId, sha256Hex } from "../worker/domain/secrets.ts";
import { config, type Env } from "../worker/env.ts";
import { log } from "../worker/log.ts";
import { sessionOf, type CompleteResult, type DispatcherApi, type DispatcherCancel, type HandBackResult, type LeaseCheck, type LeaseInfo, type ReapResult, type RunnerIdentity } from "./contracts.ts";

export const MAX_ATTEMPTS = 2;
const DEFAULT_LEASE_TTL_MS = 60_000;
/** A run token outlives the lease: the agent may call MCP until the run ends. */
const RUN_TOKEN_TTL_MS = 6 * 3_600_000;
/** Remembered completions, so a retried complete is answered as a duplicate. */
const DONE_RETENTION_MS = 86_400_000;
/** Events of lease n are numbered from (n-1)·SEQ_STRIDE + 1, so attempts never collide. */
export const SEQ_STRIDE = 1_000_000;

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

interface Parked {
  id: string;
  settled: boolean;
  runner: RunnerIdentity;
  origin: string;
  resolve: (job: Job | null) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class Dispatcher extends DurableObject<Env> implements DispatcherApi {
  readonly #sql: SqlStorage;
  readonly #db: Db;
  readonly #leaseTtlMs: number;
  #parked: Parked[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    config(env); // validates vars and sets the log level in this isolate
    this.#sql = ctx.storage.sql;
    this.#db = db(env.DB);
    this.#leaseTtlMs = Number(env.LEASE_TTL_SECONDS) > 0 ? Number(env.LEASE_TTL_SECONDS) * 1000 : DEFAULT_LEASE_TTL_MS;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        run_id INTEGER PRIMARY KEY, channel_id TEXT NOT NULL, label TEXT,
        state TEXT NOT NULL DEFAULT 'pending', enqueued_at INTEGER NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1, lease_count INTEGER NOT NULL DEFAULT 0,
        lease_id TEXT, runner_id TEXT, lease_expires_at INTEGER,
        acked INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS jobs_pending ON jobs (state, enqueued_at);
      CREATE TABLE IF NOT EXISTS done (run_id INTEGER PRIMARY KEY, body_hash TEXT NOT NULL, at INTEGER NOT NULL);`);
  }

  /** A channel's next run is ready. Idempotent per run. */
  async enqueue(runId: number, channelId: string, label: string | null): Promise<void> {
    this.#sql.exec(
      "INSERT INTO jobs (run_id, channel_id, label, enqueued_at) VALUES (?, ?, ?, ?) ON CONFLICT (run_id) DO NOTHING",
      runId,
      channelId,
      label,
      Date.now(),
    );
    await this.#serveParked();
  }

  /** Long-poll: a job for this runner now, or when one arrives within waitMs, or null. */
  async claim(runner: RunnerIdentity, waitMs: number, origin: string, claimId: string = randomId("claim_")): Promise<Job | null> {
    const job = await this.#leaseNext(runner, origin);
    if (job || waitMs <= 0) return job;
    return new Promise<Job | null>((resolve) => {
      const parked: Parked = {
        id: claimId,
        settled: false,
        runner,
        origin,
        resolve,
        timer: setTimeout(() => {
          parked.settled = true;
          this.#parked = this.#parked.filter((p) => p !== parked);
          resolve(null);
        }, waitMs),
      };
      this.#parked.push(parked);
    });
  }

  /**
   * The runner behind a parked claim went away (its request was aborted): stop holding a
   * place for it, or the next job would be leased to nobody and wait out a lease TTL.
   */
  async abandon(claimId: string): Promise<boolean> {
    const parked = this.#parked.find((p) => p.id === claimId);
    if (!parked || parked.settled) return false;
    parked.settled = true;
    clearTimeout(parked.timer);
    this.#parked = this.#parked.filter((p) => p !== parked);
    parked.resolve(null);
    return true;
  }

  /** Extends the lease of a job this runner holds; says whether it should stop. */
  async heartbeat(runnerId: string, runId: number, leaseId: string): Promise<LeaseCheck> {
    const row = this.#held(runnerId, runId, leaseId);
    if (!row) return { ok: false, reason: this.#whyNotHeld(runId) };
    const leaseExpiresAt = Date.now() + this.#leaseTtlMs;
    this.#sql.exec("UPDATE jobs SET lease_expires_at = ?, acked = 1 WHERE run_id = ?", leaseExpiresAt, runId);
    await this.#armAlarm();
    return { ok: true, cancel: row.cancel_requested === 1, leaseExpiresAt, channelId: row.channel_id };
  }

  async complete(runnerId: string, runId: number, completion: Completion): Promise<CompleteResult> {
    const hash = await sha256Hex(JSON.stringify(completion));
    const row = this.#held(runnerId, runId, completion.lease_id);
    if (!row) {
      const done = this.#sql.exec<{ body_hash: string }>("SELECT body_hash FROM done WHERE run_id = ?", runId).toArray()[0];
      if (done?.body_hash === hash) return { ok: true, duplicate: true };
      return { ok: false, reason: done ? "this run was already completed with a different result" : this.#whyNotHeld(runId) };
    }
    const now = Date.now();
    await finishRun(this.#db, runId, completion, now);
    this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", runId);
    this.#sql.exec("INSERT OR REPLACE INTO done (run_id, body_hash, at) VALUES (?, ?, ?)", runId, hash, now);
    this.#sql.exec("DELETE FROM done WHERE at < ?", now - DONE_RETENTION_MS);
    await this.#armAlarm();
    await this.#notifyFinished(row.channel_id, runId);
    return { ok: true, duplicate: false };
  }

  /**
   * Cancels a run the channel handed over: a pending job is dropped ("removed"), a leased
   * one is flagged so the next heartbeat tells its runner to stop ("signalled").
   */
  async cancel(runId: number): Promise<DispatcherCancel> {
    const row = this.#job(runId);
    if (!row) return "unknown";
    if (row.state === "pending") {
      this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", runId);
      return "removed";
    }
    this.#sql.exec("UPDATE jobs SET cancel_requested = 1 WHERE run_id = ?", runId);
    return "signalled";
  }

  /** Current leases, for GET /api/runners. */
  async leases(): Promise<LeaseInfo[]> {
    return this.#sql
      .exec<JobRow>("SELECT * FROM jobs WHERE state = 'leased' ORDER BY run_id")
      .toArray()
      .map((r) => ({ runId: r.run_id, channelId: r.channel_id, runnerId: r.runner_id!, attempt: r.attempt, expiresAt: r.lease_expires_at! }));
  }

  override async alarm(): Promise<void> {
    await this.reap();
  }

  /** Ends or re-queues every lease that ran out. The alarm calls it; so does the sweep. */
  async reap(now = Date.now()): Promise<ReapResult> {
    const expired = this.#sql.exec<JobRow>("SELECT * FROM jobs WHERE state = 'leased' AND lease_expires_at <= ?", now).toArray();
    const requeued: number[] = [];
    const ended: number[] = [];
    for (const job of expired) {
      const { outcome } = await this.#release(job, "expired", now);
      (outcome === "requeued" ? requeued : ended).push(job.run_id);
    }
    if (requeued.length) await this.#serveParked();
    await this.#armAlarm();
    return { requeued, ended };
  }

  /**
   * The runner gives a lease back without a result (it restarted and found the run's
   * container orphaned, or it is stopping): the lease ends now exactly as if it had expired,
   * so the run is re-queued at once instead of after the lease TTL (issue 15).
   */
  async handBack(runnerId: string, runId: number, leaseId: string, reason: AbandonReason): Promise<HandBackResult> {
    const row = this.#held(runnerId, runId, leaseId);
    if (!row) return { ok: false, reason: this.#whyNotHeld(runId) };
    const result = await this.#release(row, reason, Date.now());
    if (result.outcome === "requeued") await this.#serveParked();
    await this.#armAlarm();
    return { ok: true, ...result };
  }

  /**
   * A lease ends without a result: the run goes back for its next attempt, or ends (lost, or
   * cancelled when a cancel was pending). A lease never acknowledged by a heartbeat did no
   * work, so it goes back without using up an attempt.
   */
  async #release(job: JobRow, cause: "expired" | AbandonReason, now: number): Promise<{ outcome: "requeued" | "ended"; attempt: number }> {
    const attempt = job.acked ? job.attempt + 1 : job.attempt;
    const outcome = job.cancel_requested || attempt > MAX_ATTEMPTS ? "ended" : "requeued";
    if (outcome === "ended") {
      this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", job.run_id);
      const why = { expired: `no heartbeat for ${Math.round(this.#leaseTtlMs / 1000)} s`, restart: "its runner restarted", shutdown: "its runner shut down" }[cause];
      const [status, error] = job.cancel_requested
        ? (["cancelled", "cancelled; the runner stopped responding before confirming"] as const)
        : (["lost", `runner lost: ${why} on attempt ${job.attempt} of ${MAX_ATTEMPTS}`] as const);
      await endRun(this.#db, job.run_id, status, error, now);
      await this.#notifyFinished(job.channel_id, job.run_id);
    } else {
      this.#sql.exec(
        `UPDATE jobs SET state = 'pending', attempt = ?, lease_id = NULL, runner_id = NULL,
         lease_expires_at = NULL, acked = 0 WHERE run_id = ?`,
        attempt,
        job.run_id,
      );
      await requeueRun(this.#db, job.run_id, attempt);
    }
    log[cause === "expired" ? "warn" : "info"](cause === "expired" ? "dispatcher: lease expired" : "dispatcher: lease handed back", {
      runId: job.run_id,
      runnerId: job.runner_id,
      attempt: job.attempt,
      acked: job.acked === 1,
      cause,
      outcome,
    });
    return { outcome, attempt: outcome === "requeued" ? attempt : job.attempt };
  }

  // ---- internals -----------------------------------------------------------------------

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

  /** Takes the oldest pending job this runner may run, leases it, and builds its Job. */
  async #leaseNext(runner: RunnerIdentity, origin: string): Promise<Job | null> {
    for (;;) {
      const labels = runner.labels.length ? runner.labels : [""];
      // Synchronous SQL between the select and the update: two claims can never take one job.
      const row = this.#sql
        .exec<JobRow>(
          `SELECT * FROM jobs WHERE state = 'pending' AND (label IS NULL OR label IN (${labels.map(() => "?").join(",")}))
           ORDER BY enqueued_at, run_id LIMIT 1`,
          ...labels,
        )
        .toArray()[0];
      if (!row) return null;
      const leaseId = randomId("lease_");
      const now = Date.now();
      const expires = now + this.#leaseTtlMs;
      const leaseCount = row.lease_count + 1;
      this.#sql.exec(
        `UPDATE jobs SET state = 'leased', lease_id = ?, runner_id = ?, lease_expires_at = ?, lease_count = ?, acked = 0 WHERE run_id = ?`,
        leaseId,
        runner.id,
        expires,
        leaseCount,
        row.run_id,
      );
      await this.#armAlarm();
      const started = await startRun(this.#db, row.run_id, runner.id, row.attempt, now);
      if (!started) {
        // Cancelled or removed while it waited here: drop it and look again.
        this.#sql.exec("DELETE FROM jobs WHERE run_id = ?", row.run_id);
        await this.#notifyFinished(row.channel_id, row.run_id);
        continue;
      }
      const token = await mintRunToken(this.#db, started.run, RUN_TOKEN_TTL_MS, now);
      log.info("dispatcher: leased", { runId: row.run_id, runnerId: runner.id, attempt: row.attempt, leaseCount });
      return {
        run_id: row.run_id,
        lease_id: leaseId,
        attempt: row.attempt,
        lease_ttl_ms: this.#leaseTtlMs,
        first_seq: (leaseCount - 1) * SEQ_STRIDE + 1,
        channel_id: row.channel_id,
        prompt: started.run.prompt,
        session_id: started.channel.sessionId,
        workdir: started.channel.dirPath,
        model: null,
        limits: { timeout_sec: null },
        mcp: { url: `${origin}/mcp`, token },
      };
    }
  }

  async #serveParked(): Promise<void> {
    const waiting = this.#parked;
    this.#parked = [];
    for (const p of waiting) {
      // A claim whose wait ran out while an earlier one was being served is gone.
      if (p.settled) continue;
      const job = await this.#leaseNext(p.runner, p.origin);
      if (job && p.settled) {
        // It timed out during the lease's D1 writes: unacknowledged, so it goes back free.
        this.#sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE run_id = ?", Date.now(), job.run_id);
        await this.reap();
      } else if (job) {
        p.settled = true;
        clearTimeout(p.timer);
        p.resolve(job);
      } else {
        this.#parked.push(p);
      }
    }
  }

  async #armAlarm(): Promise<void> {
    const next = this.#sql
      .exec<{ at: number | null }>("SELECT MIN(lease_expires_at) AS at FROM jobs WHERE state = 'leased'")
      .toArray()[0]?.at;
    if (next == null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(next);
  }

  async #notifyFinished(channelId: string, runId: number): Promise<void> {
    try {
      await sessionOf(this.env, channelId).finished(channelId, runId);
    } catch (err) {
      // The sweep re-pumps stuck channels; log and carry on with other leases.
      log.error("dispatcher: could not tell the channel a run ended", { channelId, runId, error: String(err) });
    }
  }
}
