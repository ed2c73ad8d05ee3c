/**
 * Statements built once per drizzle instance (so once per D1 binding per isolate), for the
 * reads every request makes. Building a query's SQL walks drizzle's entity tree (its `is()`
 * checks), which bench/cpu found on every route that reads D1 (issue 19); a prepared
 * statement with placeholders is built once and only bound per call. drizzle binds a copy
 * per execution (D1's bind returns a new statement), so one prepared statement serves
 * concurrent requests without sharing their parameters.
 */
import type { Db } from "./client.ts";

/** `build` run once per Db instance, its result kept as long as the instance lives. */
export function preparedPer<T>(build: (db: Db) => T): (db: Db) => T {
  const built = new WeakMap<Db, T>();
  return function prepared(db: Db): T {
    let statements = built.get(db);
    if (!statements) {
      statements = build(db);
      built.set(db, statements);
    }
    return statements;
  };
}
