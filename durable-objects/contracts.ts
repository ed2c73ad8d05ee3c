/**
 * The Durable Objects' contract: what the rest of the Worker may ask of a ChannelSession or
 * the Dispatcher, and the shapes they answer with. Types and constants only, plus the two
 * functions that find an object by name, so that code outside durable-objects/ never imports
 * a DO class file (and with it the class's whole module graph). The classes implement these
 * interfaces; `core/env.ts` types its bindings with them, which keeps the type graph free
 * of cycles. Imports nothing of the project but protocol/ and one pure type module.
 */
import type { FiredBy, Run, RunTrigger } from "../protocol/api.ts";
import type { RelayHolder } from "../protocol/relay.ts";
import type { AbandonReason, Completion, Job, WireEvent } from "../protocol/runner.ts";
// A pure module (no bindings, no I/O): where a live message goes is the pump's own type.
import type { Target } from "../core/discord/live-state.ts";

/** The one runner pool: every runner claims from the Dispatcher of this name. */
export const DISPATCHER_NAME = "default";

// ---- ChannelSession ---------------------------------------------------------------------

/** A run's live Discord message: the interaction to edit, and who asked. */
export interface LiveTarget {
  target?: Target;
  userId?: string | null;
}

/**
 * A run to queue in a channel: the one way every run but a task's occurrence or a loop's
 * iteration is created (REST, MCP, /loop ask, a relayed message), so that inserting it,
 * setting up its live message and starting it are one call to the channel's session.
 */
export interface RunRequest {
  prompt: string;
  trigger: RunTrigger;
  /** Who asked, as runs.requested_by reads ("discord:<user id>", a token id). */
  requestedBy: string | null;
  taskId?: number | null;
  /** A relayed message's id: a second request for it queues nothing (runs.discord_message_id is unique). */
  discordMessageId?: string | null;
  /** Where the live message goes; by default a new message in the channel's Discord channel. */
  live?: LiveTarget;
}

export interface QueuedRun {
  run: Run;
  /** False when the request's Discord message had queued its run already. */
  created: boolean;
}

/**
 * Where a /loop ask came from, read from the interaction's payload alone (no I/O): a server
 * channel or thread, or a direct message with the bot.
 */
export type AskPlace =
  | { kind: "guild"; channelId: string; guildId: string; name: string; parent?: { id: string; name: string } | undefined }
  | { kind: "dm"; channelId: string; user: { id: string; username: string } };

/**
 * A /loop ask whose deferred answer is already sent: the Worker hands the rest to the
 * channel's session in this one call (its Discord channel id names the session: a channel
 * Loop made for Discord has the Discord id as its Loop id).
 */
export interface AskRequest {
  place: AskPlace;
  userId: string;
  prompt: string;
  /** The interaction whose deferred reply becomes the run's live message (or says what went wrong). */
  target: Extract<Target, { kind: "interaction" }>;
}

/** What an ask's deferred reply says when its run could not be queued (in the session, or reaching it). */
export const ASK_FAILED = "Loop could not queue the run; it has been logged.";

export type CancelOutcome = { run: Run; outcome: "cancelled" | "signalled" | "already_finished" };

export type { FiredBy };

/** One occurrence fired: the run it became, and how late it was. */
export interface FiredRun {
  runId: number;
  taskId: number;
  scheduledFor: number;
  lateMs: number;
  missed: number;
}

/** The RPC surface of ChannelSession (one per channel, named by the channel id). */
export interface ChannelSessionApi extends Rpc.DurableObjectBranded {
  /** Re-reads the channel's tasks and sets (or clears) the alarm; answers the alarm time. */
  arm(channelId: string): Promise<number | null>;
  /** Fires whatever is due now; the sweep calls this for channels whose alarm fell behind. */
  fire(channelId: string, firedBy: FiredBy): Promise<FiredRun[]>;
  /**
   * Queues a run: inserts it, sets up its live message, and starts it if the channel is free.
   * (Not named `queue`: that is the Queues handler's name, which RPC refuses to call.)
   */
  queueRun(channelId: string, request: RunRequest): Promise<QueuedRun>;
  /**
   * /loop ask after its deferral: finds (or creates) the channel, refuses what the channel
   * refuses, queues the run as `queueRun` does, and reports any failure in the deferred reply.
   */
  ask(request: AskRequest): Promise<void>;
  /** The sweep is checking: start the next queued run if the channel is free. */
  enqueue(channelId: string): Promise<number | null>;
  /**
   * The Dispatcher says a run's lease ended: free the channel, keep its session, start the
   * next. A run waiting for approval keeps the channel; `events` (its request) are shown.
   */
  finished(channelId: string, runId: number, events?: WireEvent[]): Promise<void>;
  /** A decision re-queued the channel's waiting run: show it, and hand the run out again. */
  resume(channelId: string, runId: number, events: WireEvent[]): Promise<number | null>;
  /** Cancels a queued run outright, or signals the runner of the active one. */
  cancel(channelId: string, runId: number): Promise<CancelOutcome>;
  /** The run now holding the channel (handed to the Dispatcher), if any. */
  activeRun(): Promise<number | null>;
  /** New events from the runner, already stored in D1: pass them to watchers. */
  publish(runId: number, events: WireEvent[]): Promise<void>;
  /** An SSE stream of a run: its stored events after `afterSeq`, then live ones, then its completion. */
  stream(runId: number, afterSeq?: number): Promise<ReadableStream<Uint8Array>>;
  /** A loop started with its first iteration queued: post its live message, start the iteration if free. */
  loopStarted(channelId: string, loopId: number): Promise<number | null>;
  /** A loop was stopped (already marked in D1): cancel its iteration in flight, forget its wake-up. */
  loopStopped(channelId: string, loopId: number): Promise<void>;
}

// ---- Dispatcher -------------------------------------------------------------------------

/** A runner as the Dispatcher sees it: its id and the labels it claims for. */
export interface RunnerIdentity {
  id: string;
  /** For people (the relay's holder in /api/health); absent where only the id is known. */
  name?: string;
  labels: string[];
}

/** A runner process asking for the conversation relay's lease (relay-lease.ts). */
export interface RelayClaimant {
  runnerId: string;
  runnerName: string | null;
  /** The runner process: a restarted runner is a new instance. */
  instance: string;
  /** The runner's `dm_dir`: where DM conversations without a directory work. */
  dmDir: string | null;
}

export interface RelayRenewal {
  held: boolean;
  dmDir: string | null;
}

export type LeaseCheck = { ok: true; cancel: boolean; leaseExpiresAt: number; channelId: string } | { ok: false; reason: string };
export type CompleteResult = { ok: true; duplicate: boolean } | { ok: false; reason: string };
/** An events batch taken under its lease: how many were new (dupes are ignored), and whether to stop. */
export type EventsResult = { ok: true; accepted: number; cancel: boolean } | { ok: false; reason: string };
export type HandBackResult = { ok: true; outcome: "requeued" | "ended"; attempt: number } | { ok: false; reason: string };
export type DispatcherCancel = "removed" | "signalled" | "unknown";

/** A lease as GET /api/runners shows it. */
export interface LeaseInfo {
  runId: number;
  channelId: string;
  runnerId: string;
  attempt: number;
  expiresAt: number;
}

export interface ReapResult {
  requeued: number[];
  ended: number[];
}

/** The RPC surface of the Dispatcher (one, named DISPATCHER_NAME). */
export interface DispatcherApi extends Rpc.DurableObjectBranded {
  /** A channel's next run is ready. Idempotent per run. */
  /** A channel's run is ready; seqFloor: the highest event seq a resumed run already has. */
  enqueue(runId: number, channelId: string, label: string | null, seqFloor?: number): Promise<void>;
  /** Long-poll: a job for this runner now, or when one arrives within waitMs, or null. */
  claim(runner: RunnerIdentity, waitMs: number, origin: string, claimId?: string): Promise<Job | null>;
  /** The runner behind a parked claim went away: stop holding a place for it. */
  abandon(claimId: string): Promise<boolean>;
  /** Extends the lease of a job this runner holds; says whether it should stop. */
  heartbeat(runnerId: string, runId: number, leaseId: string): Promise<LeaseCheck>;
  /**
   * An events batch: extends the lease like a heartbeat, stores the events in D1 and hands
   * them to the run's channel for its watchers, in one call from the Worker (the Worker's CPU
   * per batch, bench/cpu: one RPC instead of two, and no D1 work of its own).
   */
  events(runnerId: string, runId: number, leaseId: string, events: WireEvent[]): Promise<EventsResult>;
  complete(runnerId: string, runId: number, completion: Completion): Promise<CompleteResult>;
  /** The runner gives its lease back without a result (it restarted, or is stopping): re-queue now. */
  handBack(runnerId: string, runId: number, leaseId: string, reason: AbandonReason): Promise<HandBackResult>;
  /** Drops a pending job, or flags a leased one so its next heartbeat says stop. */
  cancel(runId: number): Promise<DispatcherCancel>;
  /** Current leases, for GET /api/runners. */
  leases(): Promise<LeaseInfo[]>;
  /** Ends or re-queues every lease that ran out. */
  reap(now?: number): Promise<ReapResult>;
  /** The conversation relay's lease: grant or renew it (one holder at a time). */
  relayAcquire(claimant: RelayClaimant): Promise<{ granted: boolean; holder: RelayHolder | null; ttlMs: number }>;
  /** Renews the lease if this instance holds it (a relayed batch is proof of life). */
  relayRenew(runnerId: string, instance: string): Promise<RelayRenewal>;
  /** Lets the lease go (a runner stopping cleanly). */
  relayRelease(runnerId: string, instance: string): Promise<boolean>;
  /** Who holds it now, or null. */
  relayHolder(): Promise<RelayHolder | null>;
}

// ---- finding the objects ----------------------------------------------------------------

/** The bindings the objects live behind (core/env.ts's Env extends this). */
export interface DurableObjectBindings {
  CHANNEL_SESSION: DurableObjectNamespace<ChannelSessionApi>;
  DISPATCHER: DurableObjectNamespace<DispatcherApi>;
}

/** The Dispatcher every runner claims from. */
export function dispatcherOf(env: Pick<DurableObjectBindings, "DISPATCHER">): DurableObjectStub<DispatcherApi> {
  return env.DISPATCHER.getByName(DISPATCHER_NAME);
}

/** The ChannelSession of one channel (named by the channel id). */
export function sessionOf(env: Pick<DurableObjectBindings, "CHANNEL_SESSION">, channelId: string): DurableObjectStub<ChannelSessionApi> {
  return env.CHANNEL_SESSION.getByName(channelId);
}
