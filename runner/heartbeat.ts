/**
 * Keeps a job's lease alive. Nothing goes out for a fresh lease until its first contact is
 * due (FIRST_CONTACT_MS after the claim's answer, LeaseContact.firstDueAt): that first
 * request acknowledges the lease, and the Worker takes back a lease not acknowledged within
 * LEASE_ACK_MS (a claim answered after its runner died must not hold a job for a whole TTL).
 * When the first contact is due and an event batch or the completion is going out anyway,
 * that request is the acknowledgement and no heartbeat is sent; only a run with nothing to
 * report by then sends one. After it, a heartbeat every interval in which nothing else
 * reached the Worker: an event batch extends the lease and carries the cancel flag too, so
 * while a run streams events it sends no heartbeats, each being a Worker request against
 * the free tier's daily budget (issue 15). The answer carries the cancel flag; a 409 means
 * the lease is gone. A failed beat (or a failed first contact of any kind) is tried again
 * every second until one gets through: the Worker's acknowledgement window leaves 10 s for
 * that past the deferral, and a third of the TTL does later.
 */
import type { Job } from "../protocol/runner.ts";
import { sleep } from "./backoff.ts";
import { LeaseContact } from "./lease-contact.ts";
import { errorText, type Logger } from "./log.ts";
import { WorkerError, type WorkerClient } from "./worker-client.ts";

/** Cancels reach a runner on its next heartbeat: never wait longer than this for one. */
export const MAX_HEARTBEAT_INTERVAL_MS = 5_000;

const RETRY_AFTER_MISS_MS = 1_000;

export const heartbeatInterval = (leaseTtlMs: number): number => Math.max(250, Math.min(MAX_HEARTBEAT_INTERVAL_MS, Math.floor(leaseTtlMs / 3)));

export interface HeartbeatOptions {
  client: Pick<WorkerClient, "heartbeat">;
  job: Pick<Job, "run_id" | "lease_id" | "lease_ttl_ms">;
  log: Logger;
  /** Shared with the job's event uploader: when anything last reached the Worker for this lease. */
  contact?: LeaseContact;
  /** Events are buffered: the uploader's batch will acknowledge the lease when it is due. */
  eventsWaiting?: () => boolean;
  onCancel: () => void;
  onLeaseLost: (err: WorkerError) => void;
}

export function startHeartbeats(o: HeartbeatOptions): { stop(): void } {
  const halt = new AbortController();
  const interval = heartbeatInterval(o.job.lease_ttl_ms);
  void (async function beat() {
    let misses = 0;
    let failedAt = 0;
    const contact = o.contact ?? new LeaseContact();
    while (!halt.signal.aborted) {
      // An event batch got through since the last miss: the lease is extended already.
      if (misses && contact.at > failedAt) misses = 0;
      if (!misses) {
        const wait = (contact.at ? contact.at + interval : contact.firstDueAt) - Date.now();
        if (wait > 0) {
          await sleep(wait, halt.signal);
          continue;
        }
        // The first contact is due and another request is (about to be) on its way: it
        // acknowledges the lease. Should it fail, the heartbeat takes over.
        if (!contact.at && !contact.missedAt && (contact.inFlight || o.eventsWaiting?.())) {
          await contact.settled(halt.signal);
          continue;
        }
      }
      try {
        const res = await contact.send(() => o.client.heartbeat(o.job.run_id, o.job.lease_id, halt.signal));
        if (misses) o.log.info("heartbeat delivered again", { run_id: o.job.run_id, missed: misses });
        misses = 0;
        if (res.cancel) o.onCancel();
      } catch (err) {
        if (halt.signal.aborted) return;
        if (err instanceof WorkerError && err.kind === "lease_lost") return o.onLeaseLost(err);
        misses++;
        failedAt = Date.now();
        o.log[misses === 1 ? "warn" : "debug"]("heartbeat failed", { run_id: o.job.run_id, misses, error: errorText(err) });
      }
      // After a miss, try again soon: the lease keeps running out meanwhile.
      if (misses) await sleep(Math.min(interval, RETRY_AFTER_MISS_MS), halt.signal);
    }
  })();
  return { stop: () => halt.abort() };
}
