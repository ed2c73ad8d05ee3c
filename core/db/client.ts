import { drizzle } from "drizzle-orm/d1";
import { oncePer } from "../once-per.ts";
import * as schema from "./schema.ts";

export type Db = ReturnType<typeof build>;

const build = (d1: D1Database) => drizzle(d1, { schema });

/**
 * One drizzle instance per D1 binding per isolate. Building one walks the whole schema
 * (extractTablesRelationalConfig), which bench/cpu found among the heaviest work of every
 * request when it ran per request. The instance holds no per-request state (no transaction,
 * no logger context), only the binding, so it is keyed by the binding: a different binding
 * (another environment, a test's own database) gets its own.
 */
export const db: (d1: D1Database) => Db = oncePer(build);
