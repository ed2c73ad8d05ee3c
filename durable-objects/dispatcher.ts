/**
 * Dispatcher: one per runner pool (named DISPATCHER_NAME). Holds the jobs that channels have
 * made ready, leases them to runners, and answers parked long-poll claims the moment a job
 * arrives. This class only wires the RPC surface (durable-objects/contracts.ts) to its parts:
 *  - leases.ts: the `jobs` and `done` tables and the lease policy (docs/storage.md);
 *  - parked-claims.ts: long-poll claims waiting in memory;
 *  - core/domain/run-state.ts: the run's D1 transitions (started, requeued, ended, finished).
 */
import { DurableObject } from "cloudflare:workers";
import { MCP_PATH } from "../protocol/mcp.ts";
import type { RelayHolder } from "../protocol/relay.ts";
import type { AbandonReason, Completion, Job, WireEvent } from "../protocol/runner.ts";
import { parkDeferred } from "../core/domain/approvals.ts";
import { db, type Db } from "../core/db/client.ts";
import { policyForRun } from "../core/domain/policy-store.ts";
import { endRun, finishRun, insertEvents, mintRunToken, requeueRun, startRun } from "../core/domain/run-state.ts";
import { randomId, sha256Hex } from "../core/domain/secrets.ts";
import { prepareIteration } from "../core/loops/iterations.ts";
import { config, type Env } from "../core/env.ts";
import { log } from "../core/log.ts";
import { sessionOf, type CompleteResult, type DispatcherApi, type DispatcherCancel, type EventsResult, type HandBackResult, type LeaseCheck, type LeaseInfo, type ReapResult, type RunnerIdentity } from "./contracts.ts";
import { Leases, type Release } from "./leases.ts";
import { ParkedClaims } from "./parked-claims.ts";
import { RelayLeases } from "./relay-lease.ts";
import { RelayMirror } from "./relay-mirror.ts";
import type { RelayClaimant, RelayRenewal } from "./contracts.ts";

/** A relay holder's D1 copy that could not be written is tried again this much later. */
const RELAY_MIRROR_RETRY_MS = 30_000;

/** A run token outlives the lease: the agent may call MCP until the run ends. */
const RUN_TOKEN_TTL_MS = 6 * 3_600_000;

export class Dispatcher extends DurableObject<Env> implements DispatcherApi {
  readonly #db: Db;
  readonly #leases: Leases;
  readonly #parked = new ParkedClaims();
  readonly #relay: RelayLeases;
  readonly #relayMirror: RelayMirror;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const cfg = config(env); // validates vars and sets the log level in this isolate
    this.#db = db(env.DB);
    this.#leases = new Leases(ctx.storage.sql, cfg.leaseTtlMs);
    this.#relay = new RelayLeases(ctx.storage.sql, cfg.relayLeaseTtlMs);
    this.#relayMirror = new RelayMirror(ctx.storage, this.#db, () => this.#relay.holder(Date.now()));
  }

  // ---- the conversation relay's lease (relay-lease.ts) -----------------------------------

  async relayAcquire(claimant: RelayClaimant): Promise<{ granted: boolean; holder: RelayHolder | null; ttlMs: number }> {
    const now = Date.now();
    const result = this.#relay.acquire(claimant, now);
    if (result.granted && result.holder?.acquired_at === now) log.info("dispatcher: relay lease granted", { runnerId: claimant.runnerId, instance: claimant.instance });
    await this.#syncRelayMirror();
    return { ...result, ttlMs: this.#relay.ttlMs };
  }

  async relayRenew(runnerId: string, instance: string): Promise<RelayRenewal> {
    const now = Date.now();
    const held = this.#relay.renew(runnerId, instance, now);
    return { held, dmDir: held ? this.#relay.dmDir(now) : null };
  }

  async relayRelease(runnerId: string, instance: string): Promise<boolean> {
    const released = this.#relay.release(runnerId, instance);
    await this.#syncRelayMirror();
    return released;
  }

  /**
   * D1's copy of the holder (relay-mirror.ts) follows a grant or a release at once. A holder
   * that dies without releasing leaves the copy at the minute's sweep (reap): an alarm at
   * each lease expiry would catch it sooner, but while a runner relays that is an alarm every
   * 20–30 s (3,000–4,300 DO requests a day) to move a status line by under a minute. Only a
   * copy that could not be written arms the alarm, to retry.
   */
  async #syncRelayMirror(): Promise<void> {
    await this.#relayMirror.sync();
    if (this.#relayMirror.behind) await this.#armAlarm();
  }

  async relayHolder(): Promise<RelayHolder | null> {
    return this.#relay.holder(Date.now());
  }

  /**
   * A channel's next run is ready. Idempotent per run. `seqFloor`: the highest event seq the
   * run already has (a run resumed after approval), so its leases number events past it.
   */
  async enqueue(runId: number, channelId: string, label: string | null, seqFloor = 0): Promise<void> {
    this.#leases.add(runId, channelId, label, Date.now(), seqFloor);
    await this.#serveParked();
  }

  async claim(runner: RunnerIdentity, waitMs: number, origin: string, claimId: string = randomId("claim_")): Promise<Job | null> {
    const job = await this.#leaseNext(runner, origin);
    if (job || waitMs <= 0) return job;
    return this.#parked.park(claimId, runner, origin, waitMs);
  }

  async abandon(claimId: string): Promise<boolean> {
    return this.#parked.abandon(claimId);
  }

  async heartbeat(runnerId: string, runId: number, leaseId: string): Promise<LeaseCheck> {
    const check = this.#leases.extend(runnerId, runId, leaseId, Date.now());
    if (check.ok) await this.#armAlarm();
    return check;
  }

  async events(runnerId: string, runId: number, leaseId: string, events: WireEvent[]): Promise<EventsResult> {
    const check = await this.heartbeat(runnerId, runId, leaseId);
    if (!check.ok) return check;
    const accepted = await insertEvents(this.env.DB, runId, events);
    await sessionOf(this.env, check.channelId).publish(runId, events);
    return { ok: true, accepted, cancel: check.cancel };
  }

  async complete(runnerId: string, runId: number, completion: Completion): Promise<CompleteResult> {
    const hash = await sha256Hex(JSON.stringify(completion));
    const check = this.#leases.checkComplete(runnerId, runId, completion.lease_id, hash);
    if (!check.held) return check.duplicate ? { ok: true, duplicate: true } : { ok: false, reason: check.reason };
    const now = Date.now();
    // The run's last events ride on its completion (one request fewer per run, issue 15):
    // stored before the run ends, and shown to its watchers before the completion.
    if (completion.events.length) await insertEvents(this.env.DB, runId, completion.events);
    const events: WireEvent[] = [...completion.events];
    // A deferred call parks the run (waiting_approval); its channel keeps it as the active run.
    if (completion.status === "deferred") {
      const requested = await parkDeferred(this.#db, this.env.DB, runId, completion, now);
      if (requested) events.push(requested);
    } else {
      await finishRun(this.#db, runId, completion, now);
    }
    this.#leases.settle(runId, hash, now);
    await this.#armAlarm();
    await this.#notifyFinished(check.channelId, runId, events);
    return { ok: true, duplicate: false };
  }

  async cancel(runId: number): Promise<DispatcherCancel> {
    return this.#leases.cancel(runId);
  }

  async leases(): Promise<LeaseInfo[]> {
    return this.#leases.list();
  }

  override async alarm(): Promise<void> {
    await this.reap();
  }

  /**
   * Ends or re-queues every lease that ran out. The alarm calls it; so does the minute's
   * sweep, which is also where D1's copy of the relay holder drops a lease that lapsed (and
   * retries a copy that failed).
   */
  async reap(now = Date.now()): Promise<ReapResult> {
    await this.#relayMirror.sync();
    return this.#reap(now, true);
  }

  /** `retireUnacked`: a lease never acknowledged also ends its runner's other parked claims. */
  async #reap(now: number, retireUnacked: boolean): Promise<ReapResult> {
    const requeued: number[] = [];
    const ended: number[] = [];
    for (const release of this.#leases.expire(now)) {
      // Never acknowledged: the claim was most likely answered after its runner died (leases.ts, LEASE_ACK_MS).
      if (retireUnacked && !release.acked && release.runnerId) this.#parked.abandonRunner(release.runnerId);
      await this.#applyRelease(release, now);
      (release.outcome === "requeued" ? requeued : ended).push(release.runId);
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
    const release = this.#leases.handBack(runnerId, runId, leaseId, reason);
    if (release.outcome === "not_held") return { ok: false, reason: release.reason };
    await this.#applyRelease(release, Date.now());
    if (release.outcome === "requeued") await this.#serveParked();
    await this.#armAlarm();
    return release.outcome === "requeued" ? { ok: true, outcome: "requeued", attempt: release.nextAttempt } : { ok: true, outcome: "ended", attempt: release.attempt };
  }

  // ---- internals -----------------------------------------------------------------------

  /** Leases the oldest pending job this runner may run, starts its run in D1, builds its Job. */
  async #leaseNext(runner: RunnerIdentity, origin: string): Promise<Job | null> {
    for (;;) {
      const now = Date.now();
      const lease = this.#leases.takeNext(runner.id, runner.labels, now);
      if (!lease) return null;
      await this.#armAlarm();
      const started = await startRun(this.#db, lease.runId, runner.id, lease.attempt, now);
      if (!started) {
        // Cancelled or removed while it waited here: drop it and look again.
        this.#leases.drop(lease.runId);
        await this.#notifyFinished(lease.channelId, lease.runId);
        continue;
      }
      const token = await mintRunToken(this.#db, started.run, RUN_TOKEN_TTL_MS, now);
      // A loop iteration's prompt is built now, from memory and the previous iteration.
      const iteration = await prepareIteration(this.#db, started.run, now);
      const policy = await policyForRun(this.#db, started.run, started.channel);
      // A run that waited for approval resumes its own session with the decision on its latest call.
      const decided = started.run.approvalDecision;
      const approval = decided && decided.deferral === started.run.deferrals ? decided.tool : null;
      log.info("dispatcher: leased", { runId: lease.runId, runnerId: runner.id, attempt: lease.attempt, leaseCount: lease.leaseCount });
      return {
        run_id: lease.runId,
        lease_id: lease.leaseId,
        attempt: lease.attempt,
        lease_ttl_ms: this.#leases.ttlMs,
        first_seq: lease.firstSeq,
        channel_id: lease.channelId,
        prompt: iteration?.prompt ?? started.run.prompt,
        // A run resumed after approval continues its own session; an iteration its loop's.
        session_id: approval ? started.run.sessionId : iteration ? iteration.sessionId : started.channel.sessionId,
        // A DM without a directory of its own works in the relay runner's dm_dir.
        workdir: started.channel.dirPath ?? (started.channel.dmUserId ? this.#relay.dmDir(now) : null),
        // A thread keeps its Claude state with its parent's, so it can resume the parent's runs.
        state_key: started.channel.parentId ?? started.channel.id,
        model: null,
        worktree: started.worktree,
        limits: started.limits,
        mcp: { url: `${origin}${MCP_PATH}`, token },
        append_system_prompt: iteration?.appendSystemPrompt ?? null,
        monitor: iteration?.monitor ?? null,
        policy,
        approval,
      };
    }
  }

  #serveParked(): Promise<void> {
    return this.#parked.serve(
      (runner, origin) => this.#leaseNext(runner, origin),
      async (job) => {
        // Its claim timed out during the lease's D1 writes: unacknowledged, so it goes back free.
        this.#leases.expireNow(job.run_id, Date.now());
        await this.#reap(Date.now(), false);
      },
    );
  }

  /** Moves the run's D1 row as the lease policy decided, and tells the channel when it ended. */
  async #applyRelease(release: Release, now: number): Promise<void> {
    if (release.outcome === "ended") {
      await endRun(this.#db, release.runId, release.status, release.error, now);
      await this.#notifyFinished(release.channelId, release.runId);
    } else {
      await requeueRun(this.#db, release.runId, release.nextAttempt);
    }
    const { runId, runnerId, attempt, acked, cause, outcome } = release;
    if (cause === "expired" && !acked) log.warn("dispatcher: lease never acknowledged; the run goes back on the same attempt", { runId, runnerId, attempt, cause, outcome });
    else if (cause === "expired") log.warn("dispatcher: lease expired", { runId, runnerId, attempt, acked, cause, outcome });
    else log.info("dispatcher: lease handed back", { runId, runnerId, attempt, acked, cause, outcome });
  }

  /** The earliest of: a run lease's expiry, a retry of the relay mirror. */
  async #armAlarm(): Promise<void> {
    const now = Date.now();
    const relayAt = this.#relayMirror.behind ? now + RELAY_MIRROR_RETRY_MS : null;
    const wakes = [this.#leases.nextExpiry(), relayAt].filter((w): w is number => w !== null);
    if (!wakes.length) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(Math.min(...wakes));
  }

  async #notifyFinished(channelId: string, runId: number, events: WireEvent[] = []): Promise<void> {
    try {
      await sessionOf(this.env, channelId).finished(channelId, runId, events);
    } catch (err) {
      // The sweep re-pumps stuck channels; log and carry on with other leases.
      log.error("dispatcher: could not tell the channel a run ended", { channelId, runId, error: String(err) });
    }
  }
}
