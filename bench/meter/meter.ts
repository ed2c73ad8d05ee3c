/**
 * The bench build's meter (bench/cost): wraps a Worker env so that every Durable Object
 * call (each is one billed DO request: one RPC session per method call on a stub) and every
 * D1 statement (rows read and written, from its result's `meta`) prints one `LOOP_METER`
 * line on the Worker's stdout, which the benchmark reads. Never part of the product build.
 */
import type { Env } from "../../core/env.ts";
import { METER_PREFIX, type MeterEvent } from "../meter-event.ts";

type Omitted<T> = T extends unknown ? Omit<T, "at"> : never;

export function mark(e: Omitted<MeterEvent>): void {
  console.log(`${METER_PREFIX}${JSON.stringify({ ...e, at: Date.now() })}`);
}

const RAW = Symbol("raw statement");
const SQL = Symbol("statement text");
type Metered = D1PreparedStatement & { [RAW]?: D1PreparedStatement; [SQL]?: string };

const note = (sql: string, meta: D1Meta | undefined) =>
  mark({ k: "d1", read: meta?.rows_read ?? 0, written: meta?.rows_written ?? 0, sql: sql.replace(/\s+/g, " ").slice(0, 80) });

function bound<T extends object>(target: T, prop: string | symbol): unknown {
  const value = Reflect.get(target, prop);
  return typeof value === "function" ? value.bind(target) : value;
}

/**
 * first() and raw() do not return `meta`, so here they are answered from all(), turning
 * rows into arrays the way drizzle's own batch path does (d1ToRawMapping). Fine for the
 * queries a job runs (no joins with clashing column names).
 */
function meterStatement(stmt: D1PreparedStatement, sql: string): Metered {
  return new Proxy(stmt, {
    get(target, prop) {
      if (prop === RAW) return target;
      if (prop === SQL) return sql;
      if (prop === "bind") return (...values: unknown[]) => meterStatement(target.bind(...values), sql);
      if (prop === "all" || prop === "run")
        return async () => {
          const result = await target.all();
          note(sql, result.meta);
          return result;
        };
      if (prop === "first")
        return async (column?: string) => {
          const result = await target.all<Record<string, unknown>>();
          note(sql, result.meta);
          const row = result.results[0] ?? null;
          return column === undefined ? row : row === null ? null : (row[column] ?? null);
        };
      if (prop === "raw")
        return async (options?: { columnNames?: boolean }) => {
          const result = await target.all<Record<string, unknown>>();
          note(sql, result.meta);
          const rows = result.results.map((r) => Object.values(r));
          return options?.columnNames ? [Object.keys(result.results[0] ?? {}), ...rows] : rows;
        };
      return bound(target, prop);
    },
  });
}

function meterD1(d1: D1Database): D1Database {
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => meterStatement(target.prepare(sql), sql);
      if (prop === "batch")
        return async (statements: Metered[]) => {
          const results = await target.batch(statements.map((s) => s[RAW] ?? s));
          results.forEach((r, i) => note(statements[i]![SQL] ?? "(unmetered statement)", r.meta));
          return results;
        };
      return bound(target, prop);
    },
  });
}

function meterNamespace<T extends Rpc.DurableObjectBranded | undefined>(ns: DurableObjectNamespace<T>, cls: string): DurableObjectNamespace<T> {
  const meterStub = (stub: DurableObjectStub<T>) =>
    new Proxy(stub, {
      get(target, prop) {
        if (typeof prop === "symbol" || prop === "then" || prop === "id" || prop === "name") return Reflect.get(target, prop);
        return (...args: unknown[]) => {
          mark({ k: "do", cls, method: prop });
          return (target as unknown as Record<string, (...a: unknown[]) => unknown>)[prop]!(...args);
        };
      },
    });
  return new Proxy(ns, {
    get(target, prop) {
      if (prop === "get" || prop === "getByName")
        return (...args: unknown[]) => meterStub((target[prop] as (...a: unknown[]) => DurableObjectStub<T>).apply(target, args));
      return bound(target, prop);
    },
  });
}

const metered = new WeakMap<Env, Env>();

/** The same env with its D1 and DO bindings metered; one wrapper per env, so config caches hold. */
export function meterEnv(env: Env): Env {
  let m = metered.get(env);
  if (!m) {
    m = { ...env, DB: meterD1(env.DB), DISPATCHER: meterNamespace(env.DISPATCHER, "Dispatcher"), CHANNEL_SESSION: meterNamespace(env.CHANNEL_SESSION, "ChannelSession") };
    metered.set(env, m);
  }
  return m;
}
