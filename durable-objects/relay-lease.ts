/**
 * The conversation relay's lease, kept in the Dispatcher's SQLite storage (table
 * `relay_lease`, one row): which runner process holds Discord's Gateway. One holder at a
 * time, whatever the number of runners with `discord_gateway: true`; when the holder stops
 * renewing, the row expires and the next runner to ask takes it (issue 12).
 *
 * Every method is a single synchronous SQL statement, so two runners asking at once can
 * never both be granted: the Durable Object runs one statement at a time.
 */
import type { RelayHolder } from "../protocol/relay.ts";
import type { RelayClaimant } from "./contracts.ts";

interface Row extends Record<string, SqlStorageValue> {
  runner_id: string;
  runner_name: string | null;
  instance: string;
  dm_dir: string | null;
  acquired_at: number;
  expires_at: number;
}

export class RelayLeases {
  readonly #sql: SqlStorage;
  readonly #ttlMs: number;

  constructor(sql: SqlStorage, ttlMs: number) {
    this.#sql = sql;
    this.#ttlMs = ttlMs;
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS relay_lease (
        id INTEGER PRIMARY KEY CHECK (id = 1), runner_id TEXT NOT NULL, runner_name TEXT,
        instance TEXT NOT NULL, dm_dir TEXT, acquired_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);`);
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  /**
   * Grants or renews the lease: free, expired, or already this instance's. The same
   * instance keeps its acquired_at; a new holder starts afresh.
   */
  acquire(c: RelayClaimant, now: number): { granted: boolean; holder: RelayHolder | null } {
    this.#sql.exec(
      `INSERT INTO relay_lease (id, runner_id, runner_name, instance, dm_dir, acquired_at, expires_at) VALUES (1, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET
         acquired_at = CASE WHEN relay_lease.instance = excluded.instance AND relay_lease.runner_id = excluded.runner_id
                            THEN relay_lease.acquired_at ELSE excluded.acquired_at END,
         runner_id = excluded.runner_id, runner_name = excluded.runner_name, instance = excluded.instance,
         dm_dir = excluded.dm_dir, expires_at = excluded.expires_at
       WHERE relay_lease.expires_at <= ? OR (relay_lease.instance = excluded.instance AND relay_lease.runner_id = excluded.runner_id)`,
      c.runnerId,
      c.runnerName,
      c.instance,
      c.dmDir,
      now,
      now + this.#ttlMs,
      now,
    );
    const row = this.#row();
    const granted = !!row && row.runner_id === c.runnerId && row.instance === c.instance && row.expires_at > now;
    return { granted, holder: row && row.expires_at > now ? view(row) : null };
  }

  /** Extends the lease if this instance holds it (a posted batch is proof of life). */
  renew(runnerId: string, instance: string, now: number): boolean {
    const cursor = this.#sql.exec(
      "UPDATE relay_lease SET expires_at = ? WHERE runner_id = ? AND instance = ? AND expires_at > ?",
      now + this.#ttlMs,
      runnerId,
      instance,
      now,
    );
    return cursor.rowsWritten > 0;
  }

  /** Lets go (a runner stopping cleanly), so another can take over at once. */
  release(runnerId: string, instance: string): boolean {
    return this.#sql.exec("DELETE FROM relay_lease WHERE runner_id = ? AND instance = ?", runnerId, instance).rowsWritten > 0;
  }

  /** The current holder, or null when the lease is free or ran out. */
  holder(now: number): RelayHolder | null {
    const row = this.#row();
    return row && row.expires_at > now ? view(row) : null;
  }

  /** The holder's `dm_dir` (only while it holds the lease). */
  dmDir(now: number): string | null {
    const row = this.#row();
    return row && row.expires_at > now ? row.dm_dir : null;
  }

  #row(): Row | undefined {
    return this.#sql.exec<Row>("SELECT * FROM relay_lease WHERE id = 1").toArray()[0];
  }
}

const view = (r: Row): RelayHolder => ({
  runner_id: r.runner_id,
  runner_name: r.runner_name,
  instance: r.instance,
  acquired_at: r.acquired_at,
  expires_at: r.expires_at,
});
