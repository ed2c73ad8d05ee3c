/**
 * The conversation relay (`discord_gateway: true`): while this runner process holds the
 * Worker's relay lease, it keeps Discord's Gateway open and forwards the messages meant for
 * Loop to POST /runner/v1/discord/messages (protocol/relay.ts).
 *
 *  - Lease: asked for at start and renewed every third of its TTL. Without it the relay
 *    waits (another runner relays); losing it closes the Gateway. A clean stop releases it,
 *    so another runner takes over at once; a crash lets it run out (RELAY_LEASE_TTL_MS).
 *  - Forwarding: messages queue in arrival order; one request at a time carries everything
 *    queued (up to MAX_RELAY_BATCH), so a burst costs few requests and a quiet channel no
 *    delay. A failed request is retried with backoff; the Worker dedupes by message id.
 *  - Failure never reaches the rest of the runner: a wrong token or a missing intent stops
 *    the relay with a log line saying what to fix; an unreachable Discord is retried with
 *    exponential backoff.
 */
import { randomBytes } from "node:crypto";
import type { GatewayDispatchPayload } from "discord-api-types/v10";
import { MAX_RELAY_BATCH, type RelayMessageInput } from "../../protocol/relay.ts";
import { Backoff, sleep } from "../backoff.ts";
import { errorText, type Logger } from "../log.ts";
import { WorkerError, type WorkerClient } from "../worker-client.ts";
import { classify, RelayState } from "./classify.ts";
import { openGateway, type GatewayConnection } from "./gateway.ts";

/** Messages waiting to be forwarded at most; beyond this the oldest are dropped (and logged). */
export const MAX_QUEUED_MESSAGES = 1_000;

export interface RelayOptions {
  client: WorkerClient;
  log: Logger;
  token: string;
  apiBase: string;
  dmDir: string | null;
  /** This process, as the lease knows it (random by default). */
  instance?: string;
  /** Backoff for reconnecting to Discord and retrying the Worker (tests shorten it). */
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface RelayHandle {
  readonly instance: string;
  /** Whether this process holds the lease and has the Gateway open. */
  readonly active: boolean;
  stop(): Promise<void>;
}

export function startRelay(opts: RelayOptions): RelayHandle {
  const { client, log } = opts;
  const instance = opts.instance ?? `relay_${randomBytes(9).toString("base64url")}`;
  const state = new RelayState();
  const stopping = new AbortController();
  const queue: RelayMessageInput[] = [];
  let gateway: GatewayConnection | null = null;
  let connecting: Promise<void> | null = null;
  let fatal: string | null = null;
  let holding = false;
  let lastHolder: string | null = null;
  let wake: (() => void) | null = null;
  const connectBackoff = new Backoff(opts.backoff);
  let nextConnectAt = 0;

  function onDispatch(p: GatewayDispatchPayload): void {
    switch (p.t) {
      case "READY":
        state.botUserId = p.d.user.id;
        log.info("relay: connected to the Discord Gateway", { bot_user_id: p.d.user.id, guilds: p.d.guilds.length });
        log.human(`relay: connected to Discord as ${p.d.user.username}; relaying @mentions, replies, !loop, DMs and run threads`);
        connectBackoff.reset();
        wake?.();
        break;
      case "GUILD_CREATE":
        for (const t of "threads" in p.d ? (p.d.threads ?? []) : []) if (t.parent_id) state.rememberThread(t.id, { parentId: t.parent_id, ownerId: t.owner_id ?? null });
        break;
      case "THREAD_CREATE":
      case "THREAD_UPDATE":
        if (p.d.parent_id) state.rememberThread(p.d.id, { parentId: p.d.parent_id, ownerId: p.d.owner_id ?? null });
        break;
      case "THREAD_DELETE":
        state.forgetThread(p.d.id);
        break;
      case "THREAD_LIST_SYNC":
        for (const t of p.d.threads) if (t.parent_id) state.rememberThread(t.id, { parentId: t.parent_id, ownerId: t.owner_id ?? null });
        break;
      case "MESSAGE_CREATE": {
        const msg = classify(p.d, state);
        if (!msg) return;
        queue.push(msg);
        if (queue.length > MAX_QUEUED_MESSAGES) {
          const dropped = queue.splice(0, queue.length - MAX_QUEUED_MESSAGES);
          log.warn("relay: queue full; oldest messages dropped", { dropped: dropped.length });
        }
        wake?.();
        break;
      }
    }
  }

  function onFatal(reason: string): void {
    fatal = reason;
    log.error("relay stopped", { reason });
    log.human(`relay stopped: ${reason}. The runner keeps running jobs; restart it once fixed.`);
    void closeGateway();
    void client.releaseRelay(instance).catch(() => {});
    holding = false;
    wake?.();
  }

  async function closeGateway(): Promise<void> {
    const g = gateway;
    gateway = null;
    state.botUserId = null;
    await g?.close();
  }

  function connect(): void {
    if (gateway || connecting || fatal || Date.now() < nextConnectAt) return;
    connecting = (async () => {
      try {
        const g = await openGateway({ token: opts.token, apiBase: opts.apiBase, log, onDispatch, onFatal });
        if (!holding || fatal || stopping.signal.aborted) await g.close();
        else gateway = g;
      } catch (err) {
        const delay = connectBackoff.next();
        nextConnectAt = Date.now() + delay;
        log.warn("relay: Discord unreachable; retrying", { error: errorText(err), retry_in_ms: delay, failures: connectBackoff.failures });
        log.human(`relay: cannot reach Discord (${errorText(err)}); retrying in ${Math.round(delay / 1000)} s`);
      } finally {
        connecting = null;
      }
    })();
  }

  /** Holds, renews or waits for the lease; opens and closes the Gateway to match. */
  async function leaseLoop(): Promise<void> {
    const backoff = new Backoff(opts.backoff);
    while (!stopping.signal.aborted && !fatal) {
      let wait: number;
      try {
        const lease = await client.relayLease(instance, opts.dmDir, stopping.signal);
        backoff.reset();
        wait = Math.max(200, Math.floor(lease.ttl_ms / 3));
        if (lease.granted && !holding) log.info("relay: holding the relay lease", { instance });
        if (!lease.granted && holding) {
          log.warn("relay: lost the relay lease; closing the Gateway", { holder: lease.holder?.runner_name ?? lease.holder?.runner_id });
          await closeGateway();
        }
        holding = lease.granted;
        const holder = lease.holder ? `${lease.holder.runner_name ?? lease.holder.runner_id}` : null;
        if (!holding && holder !== lastHolder) log.human(`relay: waiting; runner ${holder ?? "?"} relays Discord now`);
        lastHolder = holding ? null : holder;
        if (holding) {
          connect();
          // Until connected, look again soon so a backoff's end is not held up by the lease timer.
          if (!gateway) wait = Math.min(wait, Math.max(200, nextConnectAt - Date.now()));
        }
      } catch (err) {
        if (stopping.signal.aborted) break;
        if (err instanceof WorkerError && err.kind === "auth") {
          log.error("relay stopped: the Worker refused the runner token", { error: err.message });
          return;
        }
        wait = backoff.next();
        log.warn("relay: could not reach the Worker for the relay lease; retrying", { error: errorText(err), retry_in_ms: wait });
      }
      await sleep(wait, stopping.signal);
    }
  }

  /** Forwards queued messages, one request at a time, everything queued in each. */
  async function forwardLoop(): Promise<void> {
    const backoff = new Backoff(opts.backoff);
    while (!stopping.signal.aborted) {
      if (!queue.length || !state.botUserId) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          stopping.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        wake = null;
        continue;
      }
      const batch = queue.slice(0, MAX_RELAY_BATCH);
      try {
        const result = await client.relayMessages({ instance, bot_user_id: state.botUserId, messages: batch }, stopping.signal);
        queue.splice(0, batch.length);
        backoff.reset();
        for (const r of result.results) log.info("relay: message forwarded", { message_id: r.id, outcome: r.outcome, run_id: r.run_id });
      } catch (err) {
        if (stopping.signal.aborted) break;
        if (err instanceof WorkerError && !err.retryable) {
          // 409: another runner relays now; 422: a message the Worker cannot take. Either way,
          // sending the same batch again cannot succeed.
          queue.splice(0, batch.length);
          log.error("relay: batch dropped", { error: err.message, messages: batch.length });
          continue;
        }
        const delay = backoff.next();
        log.warn("relay: could not forward messages; retrying", { error: errorText(err), retry_in_ms: delay, queued: queue.length });
        await sleep(delay, stopping.signal);
      }
    }
  }

  const loops = Promise.all([leaseLoop(), forwardLoop()]).catch((err) => log.error("relay: stopped unexpectedly", { error: errorText(err) }));

  return {
    instance,
    get active() {
      return holding && gateway !== null && !fatal;
    },
    async stop() {
      stopping.abort();
      wake?.();
      await connecting;
      await closeGateway();
      await loops;
      if (holding) await client.releaseRelay(instance).catch(() => {});
      holding = false;
    },
  };
}
