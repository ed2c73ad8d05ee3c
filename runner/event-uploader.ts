/**
 * A job's events on their way to the Worker. Each event gets its seq when it is produced
 * (from job.first_seq on), so a batch retried after a timeout is harmless: the Worker
 * ignores seqs it already stored. Batches are paced: the first when the lease's first
 * contact is due (FIRST_CONTACT_MS after the claim's answer: that batch acknowledges the
 * lease, and no heartbeat is sent for it), then at most one per FLUSH_MS after the last
 * contact with the Worker under this lease (a batch or a heartbeat, LeaseContact); sooner at
 * MAX_BATCH events, one request at a time so order holds. What is left when the run ends
 * rides on the completion (takeRest). Every request counts against the Worker's daily free
 * requests, so a 20-event run costs a handful, not twenty (issue 15). While the Worker is
 * unreachable events wait here, bounded: past MAX_BUFFERED the producer is told to wait
 * (waitForRoom), which stops the runner reading the container's output, which stalls the
 * agent, and nothing is dropped.
 */
import { MAX_EVENTS_PER_BATCH, MAX_RUNNER_BODY_BYTES, type Job, type RunEventData, type WireEvent } from "../protocol/runner.ts";
import { Backoff, sleep } from "./backoff.ts";
import { LeaseContact } from "./lease-contact.ts";
import { errorText, type Logger } from "./log.ts";
import { WorkerError, type WorkerClient } from "./worker-client.ts";

/**
 * Shortest time between two batches. Just under the longest heartbeat interval (5 s): while
 * a run produces events its batches keep the lease and carry the cancel flag, so it sends
 * no heartbeats. Watchers see events at most this late (the first ones FIRST_CONTACT_MS,
 * also 4 s, after the claim); the live Discord message is edited at most every second or so
 * anyway.
 */
export const FLUSH_MS = 4_000;
export const MAX_BATCH = 50;
/** The Worker caps requests at MAX_RUNNER_BODY_BYTES; stay well below it. */
export const MAX_BATCH_BYTES = MAX_RUNNER_BODY_BYTES / 4;
export const MAX_BUFFERED = 2_000;
export const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface UploaderOptions {
  client: Pick<WorkerClient, "events">;
  job: Pick<Job, "run_id" | "lease_id" | "first_seq">;
  log: Logger;
  /** The Worker answered cancel: true. */
  onCancel: () => void;
  /** The Worker answered 409: the lease is gone. */
  onLeaseLost: (err: WorkerError) => void;
  flushMs?: number;
  backoff?: Backoff;
  /** Shared with the job's heartbeats: batches are paced from the last contact of either. */
  contact?: LeaseContact;
}

export class EventUploader {
  readonly #o: UploaderOptions;
  readonly #queue: { event: WireEvent; bytes: number }[] = [];
  readonly #backoff: Backoff;
  readonly #halt = new AbortController();
  #nextSeq: number;
  #bytes = 0;
  #draining = false;
  #pumping: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #roomWaiters: (() => void)[] = [];
  #delivered = 0;
  readonly #contact: LeaseContact;
  #holding = false;

  constructor(o: UploaderOptions) {
    this.#o = o;
    this.#nextSeq = o.job.first_seq;
    this.#contact = o.contact ?? new LeaseContact();
    this.#backoff = o.backoff ?? new Backoff({ initialMs: 500, maxMs: 10_000 });
  }

  /** Events the Worker has acknowledged. */
  get delivered(): number {
    return this.#delivered;
  }

  get pending(): number {
    return this.#queue.length;
  }

  push(data: RunEventData): void {
    if (this.#halt.signal.aborted) return;
    const event: WireEvent = { seq: this.#nextSeq++, at: Date.now(), data };
    const bytes = JSON.stringify(event).length;
    this.#queue.push({ event, bytes });
    this.#bytes += bytes;
    this.#pumping ??= this.#pump();
    if (this.#queue.length >= MAX_BATCH) this.#wakeUp();
  }

  /** Resolves once the buffer is below its bounds (at once, usually). */
  waitForRoom(): Promise<void> {
    if (!this.#full()) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  /** From now on, send without waiting for a batch to fill (the run is ending). */
  flushNow(): void {
    this.#draining = true;
    this.#wakeUp();
  }

  /** Sends everything now; true when all was delivered before the signal fired. */
  async drain(signal?: AbortSignal): Promise<boolean> {
    this.flushNow();
    const stop = signal ? new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true })) : null;
    while (this.#queue.length && !this.#halt.signal.aborted && !signal?.aborted) {
      this.#pumping ??= this.#pump();
      await (stop ? Promise.race([this.#pumping, stop]) : this.#pumping);
    }
    return this.#queue.length === 0;
  }

  /**
   * The run is over: stop sending batches and hand back what is left for the completion to
   * carry, when it fits in one request. Otherwise (a long outage left many behind) the
   * events are delivered the usual way first; null when that did not finish in time.
   * The events stay buffered until markDelivered(), so nothing is lost if completing fails.
   */
  async takeRest(signal?: AbortSignal): Promise<WireEvent[] | null> {
    this.#holding = true;
    this.#wakeUp();
    if (this.#pumping) await (signal ? Promise.race([this.#pumping, new Promise<void>((r) => signal.addEventListener("abort", () => r(), { once: true }))]) : this.#pumping);
    const rest = this.#takeBatch();
    if (rest.length === this.#queue.length) return rest;
    this.#holding = false;
    return (await this.drain(signal)) ? [] : null;
  }

  /** The completion carrying takeRest()'s events was accepted. */
  markDelivered(events: WireEvent[]): void {
    this.#queue.splice(0, events.length).forEach((q) => (this.#bytes -= q.bytes));
    this.#delivered += events.length;
  }

  /** Stops sending (lease lost or job over); buffered events are dropped. */
  close(): void {
    this.#halt.abort();
    this.#wakeUp();
    this.#releaseRoom(true);
  }

  #full(): boolean {
    return this.#queue.length >= MAX_BUFFERED || this.#bytes >= MAX_BUFFERED_BYTES;
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = null;
  }

  #releaseRoom(all = false): void {
    if (!all && this.#full()) return;
    for (const resolve of this.#roomWaiters.splice(0)) resolve();
  }

  async #pump(): Promise<void> {
    const halt = this.#halt.signal;
    let outage = false;
    try {
      while (this.#queue.length && !halt.aborted && !this.#holding) {
        if (!this.#draining && this.#queue.length < MAX_BATCH) {
          // Let what comes gather into one request: until FLUSH_MS after the last contact, or
          // until the first contact is due (this batch will acknowledge the lease).
          const due = this.#contact.at ? this.#contact.at + (this.#o.flushMs ?? FLUSH_MS) : this.#contact.firstDueAt;
          const rest = due - Date.now();
          if (rest > 0) await Promise.race([sleep(rest, halt), new Promise<void>((r) => (this.#wake = r))]);
          if (halt.aborted || this.#holding) return;
        }
        const batch = this.#takeBatch();
        try {
          const res = await this.#contact.send(() => this.#o.client.events(this.#o.job.run_id, this.#o.job.lease_id, batch, halt));
          this.#queue.splice(0, batch.length).forEach((q) => (this.#bytes -= q.bytes));
          this.#delivered += batch.length;
          this.#releaseRoom();
          if (outage) this.#o.log.info("events delivered again after a Worker outage", { run_id: this.#o.job.run_id, pending: this.#queue.length });
          outage = false;
          this.#backoff.reset();
          if (res.cancel) this.#o.onCancel();
        } catch (err) {
          if (halt.aborted) return;
          if (err instanceof WorkerError && err.kind === "lease_lost") {
            this.close(); // nothing more can be delivered under this lease
            this.#o.onLeaseLost(err);
            return;
          }
          if (err instanceof WorkerError && (err.kind === "rejected" || err.kind === "protocol")) {
            // The Worker refuses these events themselves: resending cannot help. Say so loudly.
            this.#o.log.error("event batch rejected; dropping it", { run_id: this.#o.job.run_id, seqs: `${batch[0]!.seq}-${batch.at(-1)!.seq}`, error: errorText(err) });
            this.#queue.splice(0, batch.length).forEach((q) => (this.#bytes -= q.bytes));
            this.#releaseRoom();
            continue;
          }
          const delay = this.#backoff.next();
          if (!outage) this.#o.log.warn("events: worker unreachable, buffering", { run_id: this.#o.job.run_id, pending: this.#queue.length, retry_ms: delay, error: errorText(err) });
          else this.#o.log.debug("events: retrying", { run_id: this.#o.job.run_id, pending: this.#queue.length, retry_ms: delay, error: errorText(err) });
          outage = true;
          await sleep(delay, halt);
        }
      }
    } finally {
      this.#pumping = null;
    }
  }

  #takeBatch(): WireEvent[] {
    const batch: WireEvent[] = [];
    let bytes = 0;
    for (const q of this.#queue) {
      if (batch.length >= Math.min(MAX_BATCH, MAX_EVENTS_PER_BATCH)) break;
      if (batch.length && bytes + q.bytes > MAX_BATCH_BYTES) break;
      batch.push(q.event);
      bytes += q.bytes;
    }
    return batch;
  }
}
