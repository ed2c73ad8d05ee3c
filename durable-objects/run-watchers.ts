/**
 * Live watchers of runs, as Server-Sent Events. A new watcher gets the run's stored events
 * (the backlog), then live ones as they are published, each seq exactly once and in order,
 * then a final `complete` event carrying the run, and the stream closes.
 *
 *   event: <event type>   id: <seq>   data: {"seq", "at", "data"}
 *   event: complete                   data: <the run, as GET /api/runs/:id shows it>
 */
import { and, asc, eq, gt } from "drizzle-orm";
import type { Run } from "../protocol/api.ts";
import type { WireEvent } from "../protocol/runner.ts";
import type { Db } from "../core/db/client.ts";
import { runEvents, runs } from "../core/db/schema.ts";
import { isTerminal } from "../core/domain/run-state.ts";
import { runView } from "../core/domain/views.ts";

/** Comment lines keep idle proxies from closing a quiet stream. */
const KEEPALIVE_MS = 15_000;
const encoder = new TextEncoder();

interface Watcher {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  lastSeq: number;
  /** Live events that arrived while the backlog was being read. */
  pending: WireEvent[] | null;
}

export class RunWatchers {
  readonly #db: Db;
  readonly #byRun = new Map<number, Set<Watcher>>();
  #keepalive: ReturnType<typeof setInterval> | null = null;

  constructor(db: Db) {
    this.#db = db;
  }

  /** A watcher that reconnected with Last-Event-ID gets only the events after `afterSeq`. */
  open(runId: number, afterSeq = 0): ReadableStream<Uint8Array> {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const watcher: Watcher = { writer: writable.getWriter(), lastSeq: afterSeq, pending: [] };
    let set = this.#byRun.get(runId);
    if (!set) this.#byRun.set(runId, (set = new Set()));
    set.add(watcher);
    this.#startKeepalive();
    void this.#sendBacklog(runId, watcher);
    return readable;
  }

  publish(runId: number, events: WireEvent[]): void {
    for (const w of this.#byRun.get(runId) ?? []) {
      if (w.pending) w.pending.push(...events);
      else this.#send(runId, w, events);
    }
  }

  complete(run: Run): void {
    for (const w of this.#byRun.get(run.id) ?? []) {
      if (w.pending) continue; // its backlog read will see the run finished and close it
      this.#finish(run.id, w, run);
    }
  }

  async #sendBacklog(runId: number, w: Watcher): Promise<void> {
    try {
      const stored = await this.#db.query.runEvents.findMany({
        where: and(eq(runEvents.runId, runId), gt(runEvents.seq, w.lastSeq)),
        orderBy: asc(runEvents.seq),
      });
      this.#send(runId, w, stored.map((e) => ({ seq: e.seq, at: e.at, data: e.payload as WireEvent["data"] })));
      const live = w.pending ?? [];
      w.pending = null;
      this.#send(runId, w, live);
      const run = await this.#db.query.runs.findFirst({ where: eq(runs.id, runId) });
      if (run && isTerminal(run.status)) this.#finish(runId, w, runView(run));
    } catch {
      this.#drop(runId, w);
    }
  }

  #send(runId: number, w: Watcher, events: WireEvent[]): void {
    const fresh = events.filter((e) => e.seq > w.lastSeq).sort((a, b) => a.seq - b.seq);
    let text = "";
    for (const e of fresh) {
      if (e.seq <= w.lastSeq) continue;
      w.lastSeq = e.seq;
      text += `event: ${e.data.type}\nid: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`;
    }
    if (text) this.#write(runId, w, text);
  }

  #finish(runId: number, w: Watcher, run: Run): void {
    this.#write(runId, w, `event: complete\ndata: ${JSON.stringify(run)}\n\n`);
    w.writer.close().catch(() => undefined);
    this.#remove(runId, w);
  }

  #write(runId: number, w: Watcher, text: string): void {
    // A watcher that went away fails its write: forget it, never fail the publisher.
    w.writer.write(encoder.encode(text)).catch(() => this.#drop(runId, w));
  }

  #drop(runId: number, w: Watcher): void {
    w.writer.abort().catch(() => undefined);
    this.#remove(runId, w);
  }

  #remove(runId: number, w: Watcher): void {
    const set = this.#byRun.get(runId);
    set?.delete(w);
    if (set && !set.size) this.#byRun.delete(runId);
    if (!this.#byRun.size && this.#keepalive) {
      clearInterval(this.#keepalive);
      this.#keepalive = null;
    }
  }

  #startKeepalive(): void {
    this.#keepalive ??= setInterval(() => {
      for (const [runId, set] of this.#byRun) for (const w of set) if (!w.pending) this.#write(runId, w, ": keepalive\n\n");
    }, KEEPALIVE_MS);
  }
}
