/**
 * Long-poll claims waiting in the Dispatcher for a job: in memory only (a claim is a pending
 * RPC), answered when a job arrives, when its wait runs out (null), or when its runner hangs
 * up (abandon). A component of the Dispatcher; it knows nothing of storage or D1.
 */
import type { Job } from "../protocol/runner.ts";
import type { RunnerIdentity } from "./contracts.ts";

interface Parked {
  id: string;
  settled: boolean;
  runner: RunnerIdentity;
  origin: string;
  resolve: (job: Job | null) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Leases a job for a waiting claim, or null when none fits it. */
export type LeaseFor = (runner: RunnerIdentity, origin: string) => Promise<Job | null>;

export class ParkedClaims {
  #parked: Parked[] = [];

  /** Waits up to waitMs for serve() to hand this claim a job; null when the wait runs out. */
  park(claimId: string, runner: RunnerIdentity, origin: string, waitMs: number): Promise<Job | null> {
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
  abandon(claimId: string): boolean {
    const parked = this.#parked.find((p) => p.id === claimId);
    if (!parked || parked.settled) return false;
    parked.settled = true;
    clearTimeout(parked.timer);
    this.#parked = this.#parked.filter((p) => p !== parked);
    parked.resolve(null);
    return true;
  }

  /**
   * Every parked claim of this runner ends now (answered null). Used when the runner did not
   * acknowledge a job it was handed: its process is most likely gone, and its other parked
   * claims would each take a job and stall it for the acknowledgement window. Were it alive
   * after all, it just claims again.
   */
  abandonRunner(runnerId: string): number {
    const gone = this.#parked.filter((p) => p.runner.id === runnerId && !p.settled);
    for (const p of gone) this.abandon(p.id);
    return gone.length;
  }

  /**
   * Offers jobs to the waiting claims, oldest first. A claim whose wait ran out while its job
   * was being leased cannot take it: `late` gets that job back to undo the lease.
   */
  async serve(leaseFor: LeaseFor, late: (job: Job) => Promise<void>): Promise<void> {
    const waiting = this.#parked;
    this.#parked = [];
    for (const p of waiting) {
      // A claim whose wait ran out while an earlier one was being served is gone.
      if (p.settled) continue;
      const job = await leaseFor(p.runner, p.origin);
      if (job && p.settled) {
        await late(job);
      } else if (job) {
        p.settled = true;
        clearTimeout(p.timer);
        p.resolve(job);
      } else {
        this.#parked.push(p);
      }
    }
  }
}
