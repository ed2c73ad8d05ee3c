/**
 * Shared helpers for the REST API tests: requests through the real Worker (SELF), the
 * fixtures most tests need (a channel, a task, a token, run rows), and one strict check of
 * the error envelope. Responses are parsed against the shared protocol schemas, so a
 * drifting wire format fails here rather than in the CLI.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { expect } from "vitest";
import { z } from "zod";
import {
  Channel,
  CreatedToken,
  Run,
  RunWithEvents,
  Task,
  TaskWithPreview,
  type CreateTask,
} from "../../protocol/api.ts";
import { db } from "../../core/db/client.ts";
import { apiTokens, channels, runEvents, runs, tasks } from "../../core/db/schema.ts";
import { api, type Answer } from "./runner-protocol.ts";

/** The ADMIN_TOKEN binding vitest.config.ts gives the test Worker. */
export const ADMIN = "test-admin-token-0123456789";
export const BASE = "http://loop.test";

export const store = () => db(env.DB);

export interface CallOptions {
  method?: string;
  /** JSON-encoded unless it is already a string (sent verbatim). */
  body?: unknown;
  /** A bearer secret; null sends no Authorization header at all. */
  token?: string | null;
  /** A raw Authorization header, overriding token. */
  authorization?: string;
}

/** One request to the Worker's REST API, as the CLI would send it. */
export function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const headers = new Headers();
  const token = opts.token === undefined ? ADMIN : opts.token;
  if (opts.authorization !== undefined) headers.set("authorization", opts.authorization);
  else if (token !== null) headers.set("authorization", `Bearer ${token}`);
  let body: string | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
    headers.set("content-type", "application/json");
  }
  return SELF.fetch(`${BASE}${path}`, { method: opts.method ?? (body === undefined ? "GET" : "POST"), headers, body });
}

/** runner-protocol.ts's api() with the token last, the admin's by default. */
export const rest = (method: string, path: string, body?: unknown, token = ADMIN): Promise<Answer> => api(method, path, token, body);

/** Calls and parses a success body against `schema`, failing loudly on an unexpected status. */
export async function callOk<S extends z.ZodType>(
  schema: S,
  path: string,
  opts: CallOptions = {},
  status = 200,
): Promise<z.infer<S>> {
  const res = await call(path, opts);
  const text = await res.text();
  expect(res.status, `${opts.method ?? "GET"} ${path} → ${res.status}: ${text}`).toBe(status);
  return schema.parse(JSON.parse(text));
}

const StrictErrorBody = z.strictObject({
  error: z.strictObject({ code: z.string().min(1), message: z.string().min(1), field: z.string().min(1).optional() }),
});
export type StrictErrorBody = z.infer<typeof StrictErrorBody>;

/**
 * Asserts an error response: its status, the exact {"error": {code, message, field?}}
 * envelope, and (when given) its code and field. `field: null` asserts no field at all.
 */
export async function expectError(
  res: Response,
  status: number,
  expected: { code?: string; field?: string | null } = {},
): Promise<StrictErrorBody["error"]> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get("content-type") ?? "").toMatch(/^application\/json/);
  const { error } = StrictErrorBody.parse(JSON.parse(text));
  if (expected.code !== undefined) expect(error.code).toBe(expected.code);
  if (expected.field === null) expect(error.field).toBeUndefined();
  else if (expected.field !== undefined) expect(error.field).toBe(expected.field);
  return error;
}

let counter = 0;
/** A directory no other test in this file uses. */
export function uniqueDir(label = "proj"): string {
  counter += 1;
  return `/srv/${label}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

export async function createChannel(opts: { dir?: string; name?: string; token?: string } = {}): Promise<Channel> {
  const body = { dir_path: opts.dir ?? uniqueDir(), ...(opts.name ? { name: opts.name } : {}) };
  return callOk(Channel, "/api/channels", { method: "POST", body, token: opts.token }, 201);
}

/** A channel as Discord would create it: a snowflake id and no directory yet. */
export async function insertDiscordChannel(name = "discord-channel"): Promise<{ id: string; discordId: string }> {
  counter += 1;
  const discordId = String(100_000_000_000_000_000n + BigInt(counter) * 1_000_000n + BigInt(Math.floor(Math.random() * 1e6)));
  const id = `ch_discord_${counter}`;
  await store().insert(channels).values({ id, discordChannelId: discordId, guildId: "1", name });
  return { id, discordId };
}

export async function createTask(
  channelId: string,
  overrides: Partial<CreateTask> = {},
  token?: string,
): Promise<TaskWithPreview> {
  const body: CreateTask = { channel_id: channelId, type: "interval", schedule: "5m", prompt: "check the build", ...overrides };
  return callOk(TaskWithPreview, "/api/tasks", { method: "POST", body, token }, 201);
}

export async function getTask(id: number): Promise<TaskWithPreview> {
  return callOk(TaskWithPreview, `/api/tasks/${id}`);
}

export async function mintToken(
  scope: "admin" | string[],
  opts: { name?: string; expires_in_days?: number } = {},
): Promise<z.infer<typeof CreatedToken>> {
  const body = { name: opts.name ?? "test token", scope, ...(opts.expires_in_days ? { expires_in_days: opts.expires_in_days } : {}) };
  return callOk(CreatedToken, "/api/tokens", { method: "POST", body }, 201);
}

/** SHA-256 hex computed here, independently of the Worker's own helper. */
export async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function tokenRow(id: string) {
  return store().query.apiTokens.findFirst({ where: eq(apiTokens.id, id) });
}

export async function taskRow(id: number) {
  return store().query.tasks.findFirst({ where: eq(tasks.id, id) });
}

/**
 * Everything the REST API could have written, for asserting that a refused request changed
 * nothing. last_used_at is left out: it is advisory and written on any authenticated use.
 */
export async function snapshotStore(): Promise<Record<string, unknown[]>> {
  const all = (sql: string) => env.DB.prepare(sql).all().then((r) => r.results);
  return {
    channels: await all("select * from channels order by id"),
    tasks: await all("select * from tasks order by id"),
    runs: await all("select * from runs order by id"),
    tokens: await all("select id, name, token_hash, scope, expires_at, created_at from api_tokens order by id"),
    runners: await all("select id, name, token_hash, labels, created_at from runners order by id"),
    templates: await all("select * from templates order by name"),
  };
}

export async function countTasks(): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from tasks").first<{ n: number }>();
  return row!.n;
}

/** Run history is written by the run pipeline; these tests seed it straight into D1. */
export async function insertRun(values: Partial<typeof runs.$inferInsert> & { channelId: string }): Promise<number> {
  const [row] = await store()
    .insert(runs)
    .values({ trigger: "api", prompt: "seeded run", ...values })
    .returning({ id: runs.id });
  return row!.id;
}

export async function insertRunEvents(
  runId: number,
  events: { seq: number; type: string; payload: unknown; at: number }[],
): Promise<void> {
  await store().insert(runEvents).values(events.map((e) => ({ runId, ...e })));
}

export const TaskList = z.object({ tasks: z.array(Task) });
export const ChannelList = z.object({ channels: z.array(Channel) });
export const RunList = z.object({ runs: z.array(Run) });
export { Channel, CreatedToken, Run, RunWithEvents, Task, TaskWithPreview };
