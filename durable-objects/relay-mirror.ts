/**
 * Keeps D1's `relay_holder` in step with the relay lease (relay-lease.ts, the truth), for
 * the Dispatcher: /loop status reads the holder with the channel in its one D1 round trip
 * instead of calling the Dispatcher beside it (issue 15).
 *
 * D1 is written only when the holder changes: a grant to a new holder, a release, and a lapse
 * the minute's sweep finds (Dispatcher.reap): status may name a holder that died for up to a
 * minute after its lease ran out. A renewal (every third of the TTL, the
 * relay's only steady traffic) writes nothing, so the mirror costs a few D1 rows a day, not
 * one per renewal. Storage key "relayMirrored": the holder last written to D1 ("" for none),
 * so an evicted object does not write again what D1 already has.
 */
import type { RelayHolder } from "../protocol/relay.ts";
import type { Db } from "../core/db/client.ts";
import { mirrorRelayHolder } from "../core/domain/relay.ts";
import { log } from "../core/log.ts";

const MIRRORED = "relayMirrored";

/** The same holder (runner process and grant) is the same key; a renewal does not change it. */
const keyOf = (h: RelayHolder | null) => (h ? `${h.runner_id}\n${h.instance}\n${h.acquired_at}` : "");

export class RelayMirror {
  readonly #storage: DurableObjectStorage;
  readonly #db: Db;
  readonly #current: () => RelayHolder | null;
  /** Syncs run one after another, each reading the truth when it starts: never an older holder written last. */
  #chain: Promise<void> = Promise.resolve();
  /** The key D1 holds (storage MIRRORED, read once per object); undefined until read. */
  #mirrored: string | undefined;
  #failed = false;

  /** `current`: the lease's holder now (null once it lapsed or was released). */
  constructor(storage: DurableObjectStorage, db: Db, current: () => RelayHolder | null) {
    this.#storage = storage;
    this.#db = db;
    this.#current = current;
  }

  /** Whether the last sync could not write D1: the owner's alarm should retry. */
  get behind(): boolean {
    return this.#failed;
  }

  /** Writes the holder to D1 if it changed since the last write; `behind` tells whether that failed. */
  sync(): Promise<void> {
    const next = this.#chain.then(() => this.#syncOnce());
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #syncOnce(): Promise<void> {
    const holder = this.#current();
    const key = keyOf(holder);
    this.#mirrored ??= (await this.#storage.get<string>(MIRRORED)) ?? undefined;
    if (this.#mirrored === key) {
      this.#failed = false;
      return;
    }
    try {
      await mirrorRelayHolder(this.#db, holder);
      await this.#storage.put(MIRRORED, key);
      this.#mirrored = key;
      this.#failed = false;
    } catch (err) {
      // The lease itself is unaffected; status shows the old holder until the retry lands.
      log.error("dispatcher: could not mirror the relay holder to D1; retrying", { runnerId: holder?.runner_id ?? null, error: String(err) });
      this.#failed = true;
    }
  }
}
