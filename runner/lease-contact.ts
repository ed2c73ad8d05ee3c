/**
 * When this runner last reached the Worker under one lease. Heartbeats and event batches
 * both extend the lease and carry the cancel flag, so each looks here before sending: a
 * heartbeat is skipped while batches keep arriving, and batches are paced from the last
 * contact of either kind. Every request counts against the Worker's daily free requests
 * (issue 15).
 */
export class LeaseContact {
  #at = 0;

  /** Epoch ms of the last request the Worker answered for this lease; 0: none yet. */
  get at(): number {
    return this.#at;
  }

  touch(now = Date.now()): void {
    this.#at = Math.max(this.#at, now);
  }
}
