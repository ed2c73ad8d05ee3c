/**
 * This runner's contact with the Worker under one lease: when its first request is due, when
 * the Worker last answered one, whether one is on its way. Heartbeats, event batches, the
 * monitor report and the completion all extend the lease (the first of them acknowledges it),
 * so each sender looks here before sending: a heartbeat is skipped while other requests keep
 * arriving, batches are paced from the last contact of any kind, and nothing at all goes out
 * before the first contact is due (FIRST_CONTACT_MS after the claim's answer). Every request
 * counts against the Worker's daily free requests (issue 15).
 */
import { FIRST_CONTACT_MS } from "../protocol/runner.ts";

/**
 * How long after the claim's answer the first request under a lease goes out. A lease
 * shorter than three times FIRST_CONTACT_MS (tests use 5–10 s) is acknowledged after a third
 * of its TTL, which the Worker's window (the lease TTL, when it is shorter than LEASE_ACK_MS)
 * leaves room for: the same third that paces heartbeats (heartbeat.ts).
 */
export const firstContactDelay = (leaseTtlMs: number, deferMs = FIRST_CONTACT_MS): number => Math.max(0, Math.min(deferMs, Math.floor(leaseTtlMs / 3)));

export class LeaseContact {
  #at = 0;
  #missedAt = 0;
  #inFlight = 0;
  #waiters: (() => void)[] = [];
  /** Epoch ms when the first request under the lease is due; 0: at once. */
  readonly firstDueAt: number;

  constructor(firstDueAt = 0) {
    this.firstDueAt = firstDueAt;
  }

  /** Epoch ms of the last request the Worker answered for this lease; 0: none yet. */
  get at(): number {
    return this.#at;
  }

  /** Epoch ms of the last request under this lease that failed; 0: none. */
  get missedAt(): number {
    return this.#missedAt;
  }

  /** Requests under this lease on their way now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  touch(now = Date.now()): void {
    this.#at = Math.max(this.#at, now);
    this.#notify();
  }

  /** Sends one request under the lease and notes how it went. */
  async send<T>(request: () => Promise<T>): Promise<T> {
    this.#inFlight++;
    try {
      const answer = await request();
      this.#at = Math.max(this.#at, Date.now());
      return answer;
    } catch (err) {
      this.#missedAt = Date.now();
      throw err;
    } finally {
      this.#inFlight--;
      this.#notify();
    }
  }

  /** Resolves when a request under the lease next succeeds or fails, or when the signal aborts. */
  settled(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  #notify(): void {
    for (const resolve of this.#waiters.splice(0)) resolve();
  }
}
