/**
 * The scheduling half shared by a ChannelSession's Discord pumps (live-messages.ts,
 * loop-messages.ts): each keeps records that want a step at some time (`wakeAt`); the
 * object's one alarm asks for the earliest, and on waking drives every record that is due.
 * Wakes are serialised, so an alarm and a direct wake never drive one record twice at once,
 * and one record failing never stops the others (nor the task alarm behind them).
 */
export class WakePump<K> {
  #waking: Promise<void> = Promise.resolve();
  readonly #wakes: () => Promise<Iterable<[K, number | null]>>;
  readonly #drive: (key: K) => Promise<void>;
  readonly #failed: (key: K, err: unknown) => void;

  /** `wakes`: each record's key and wake time (null: nothing to do); `failed`: log one record's failure. */
  constructor(wakes: () => Promise<Iterable<[K, number | null]>>, drive: (key: K) => Promise<void>, failed: (key: K, err: unknown) => void) {
    this.#wakes = wakes;
    this.#drive = drive;
    this.#failed = failed;
  }

  /** The earliest time any record wants the pump, or null. */
  async nextWake(): Promise<number | null> {
    let min: number | null = null;
    for (const [, at] of await this.#wakes()) if (at !== null && (min === null || at < min)) min = at;
    return min;
  }

  /** Whether any record wants the pump now. */
  async isDue(now = Date.now()): Promise<boolean> {
    for (const [, at] of await this.#wakes()) if (at !== null && at <= now) return true;
    return false;
  }

  /** Drives every record that is due; the caller re-arms the alarm afterwards. */
  wake(): Promise<void> {
    const next = this.#waking.then(() => this.#wakeOnce());
    this.#waking = next.catch(() => undefined);
    return next;
  }

  async #wakeOnce(): Promise<void> {
    const now = Date.now();
    const due: K[] = [];
    for (const [key, at] of await this.#wakes()) if (at !== null && at <= now) due.push(key);
    for (const key of due) {
      try {
        await this.#drive(key);
      } catch (err) {
        this.#failed(key, err);
      }
    }
  }
}
