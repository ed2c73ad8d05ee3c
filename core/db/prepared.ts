/**
 * Statements built once per drizzle instance (so once per D1 binding per isolate), for the
 * reads every request makes. Building a query's SQL walks drizzle's entity tree (its `is()`
 * checks), which bench/cpu found on every route that reads D1 (issue 19); a prepared
 * statement with placeholders is built once and only bound per call. drizzle binds a copy
 * per execution (D1's bind returns a new statement), so one prepared statement serves
 * concurrent requests without sharing their parameters.
 */
import { fillPlaceholders } from "drizzle-orm";
import { oncePer } from "../once-per.ts";
import type { Db } from "./client.ts";

/** `build` run once per Db instance, its result kept as long as the instance lives. */
export const preparedPer = <T>(build: (db: Db) => T): ((db: Db) => T) => oncePer(build);

/** What batchPrepared needs of a prepared select (public drizzle API: its SQL, its row mapping). */
interface PreparedSelect {
  getQuery(): { sql: string; params: unknown[] };
  mapAllResult(rows: unknown, isFromBatch?: boolean): unknown;
  all(values?: Record<string, unknown>): Promise<unknown>;
}

/**
 * Prepared selects run as one D1 batch (one round trip), with the same placeholder values:
 * what `db.batch` does for query builders, without building each query's SQL again per call.
 * Rows are mapped by each statement's own drizzle mapping, as db.batch maps them.
 */
export async function batchPrepared<T extends readonly [PreparedSelect, ...PreparedSelect[]]>(
  db: Db,
  values: Record<string, unknown>,
  statements: T,
): Promise<{ -readonly [K in keyof T]: Awaited<ReturnType<T[K]["all"]>> }> {
  const d1 = db.$client;
  const results = await d1.batch(
    statements.map((s) => {
      const { sql, params } = s.getQuery();
      return d1.prepare(sql).bind(...fillPlaceholders(params, values));
    }),
  );
  return statements.map((s, i) => s.mapAllResult(results[i], true)) as { -readonly [K in keyof T]: Awaited<ReturnType<T[K]["all"]>> };
}
