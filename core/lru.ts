/**
 * A small least-recently-used map, for what an isolate keeps between requests to save CPU
 * (issue 19). Bounded, so a stream of distinct keys (every user's own cron expression) can
 * never grow an isolate's memory: past `capacity`, the key used longest ago goes.
 * A Map iterates in insertion order, so re-inserting on a hit keeps the oldest first.
 */
export class Lru<K, V> {
  readonly #entries = new Map<K, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw new Error(`Lru capacity must be at least 1, got ${capacity}`);
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value for `key`, computed by `make` (and kept) on a miss. */
  getOrSet(key: K, make: () => V): V {
    if (this.#entries.has(key)) {
      const value = this.#entries.get(key) as V;
      this.#entries.delete(key);
      this.#entries.set(key, value);
      return value;
    }
    const value = make();
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) this.#entries.delete(this.#entries.keys().next().value as K);
    return value;
  }
}
