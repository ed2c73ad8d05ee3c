/**
 * Reads the original Loop's SQLite database (radutopala/loop internal/db) with Node 22's
 * built-in node:sqlite, read-only. Columns came in over many migrations, so each row is read
 * with SELECT * and a column an older database lacks takes the default its migration gave it.
 */
import { existsSync } from "node:fs";
import { z } from "zod";
import { UserError } from "../user-error.ts";

const bool = z.union([z.number(), z.bigint(), z.boolean()]).transform((v) => Number(v) === 1);
const int = z.union([z.number(), z.bigint()]).transform(Number);
const text = z.string().nullish().transform((v) => v ?? "");

/** A row of the original's `channels` table (a Discord channel or thread, or a local dir). */
export const OriginalChannel = z.object({
  channel_id: z.string(),
  guild_id: text,
  name: text,
  active: bool.default(true),
  session_id: text,
  dir_path: text,
  parent_id: text,
  platform: text,
});
export type OriginalChannel = z.infer<typeof OriginalChannel>;

/** A row of `scheduled_tasks`; next_run_at is the Go driver's time text. */
export const OriginalTask = z.object({
  id: int,
  channel_id: z.string(),
  schedule: text,
  type: z.string(),
  prompt: text,
  enabled: bool,
  next_run_at: z.union([z.string(), z.number()]).nullish(),
  template_name: text,
  auto_delete_sec: int.default(0),
  worktree: bool.default(false),
  origin_branch: text,
  update_before_run: bool.default(false),
  workflow_name: text,
  /** Set: the task runs this script in the agent container instead of a prompt. */
  bash_script: text,
});
export type OriginalTask = z.infer<typeof OriginalTask>;

export interface OriginalData {
  channels: OriginalChannel[];
  tasks: OriginalTask[];
}

/** The Go sqlite driver writes "2026-02-09 14:30:00+00:00" (or with " +0000 UTC"); read either. */
export function parseGoTime(v: string | number | null | undefined): number | null {
  if (v == null || v === "") return null;
  if (typeof v === "number") return v > 1e12 ? v : v * 1000;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?/.exec(v.trim());
  if (!m) return null;
  const zone = !m[3] || m[3] === "Z" ? "Z" : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3];
  const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * node:sqlite, imported only here so the other commands never load it. Node 22 prints an
 * ExperimentalWarning for it on every load; that line is for Node's developers, not for
 * someone importing their database, so it alone is held back.
 */
async function loadSqlite(): Promise<typeof import("node:sqlite")> {
  const emitWarning = process.emitWarning;
  process.emitWarning = function quiet(this: NodeJS.Process, warning: string | Error, ...rest: unknown[]) {
    const text = typeof warning === "string" ? warning : warning.message;
    if (/SQLite is an experimental feature/.test(text)) return;
    return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning;
  try {
    return await import("node:sqlite");
  } finally {
    process.emitWarning = emitWarning;
  }
}

export async function readOriginalDb(file: string): Promise<OriginalData> {
  if (!existsSync(file)) throw new UserError(`no database at ${file}: give the original Loop's database with --db (its default is ~/.loop/loop.db)`);
  const { DatabaseSync } = await loadSqlite();
  let db;
  try {
    db = new DatabaseSync(file, { readOnly: true });
  } catch (err) {
    throw new UserError(`cannot open ${file} as SQLite: ${(err as Error).message}`);
  }
  try {
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => String((r as { name: string }).name)));
    if (!tables.has("channels") || !tables.has("scheduled_tasks")) {
      throw new UserError(`${file} is not the original Loop's database: it has no channels and scheduled_tasks tables`);
    }
    const read = <S extends z.ZodType>(sql: string, schema: S, what: string): z.infer<S>[] =>
      db.prepare(sql).all().map((row, i) => {
        const parsed = schema.safeParse(row);
        if (!parsed.success) throw new UserError(`${file}: ${what} row ${i + 1} is not what the original Loop writes: ${z.prettifyError(parsed.error)}`);
        return parsed.data;
      });
    return {
      channels: read("SELECT * FROM channels ORDER BY id", OriginalChannel, "channels"),
      tasks: read("SELECT * FROM scheduled_tasks ORDER BY id", OriginalTask, "scheduled_tasks"),
    };
  } finally {
    db.close();
  }
}
