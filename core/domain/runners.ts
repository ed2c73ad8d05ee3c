/** Self-hosted runners: registered by an admin, each with its own token and labels. */
import { asc, eq } from "drizzle-orm";
import type { RegisterRunner, Runner } from "../../protocol/api.ts";
import { RUNNER_PATH } from "../../protocol/runner.ts";
import { dispatcherOf, type RunnerIdentity } from "../../durable-objects/contracts.ts";
import { runners, type RunnerRow } from "../db/schema.ts";
import { AppError, conflict } from "../errors.ts";
import { assertAdmin } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { mintSecret, randomId, secretKind, sha256Hex } from "./secrets.ts";
import { iso } from "./views.ts";

function view(r: RunnerRow, leases: Runner["leases"]): Runner {
  return {
    id: r.id,
    name: r.name,
    labels: r.labels,
    last_seen_at: iso(r.lastSeenAt),
    created_at: iso(r.createdAt)!,
    leases,
  };
}

export async function registerRunner(ctx: DomainContext, input: RegisterRunner): Promise<Runner & { token: string }> {
  assertAdmin(ctx.actor, "register runners");
  const secret = mintSecret("runner");
  const [row] = await ctx.db
    .insert(runners)
    .values({ id: randomId("rnr_"), name: input.name, tokenHash: await sha256Hex(secret), labels: [...new Set(input.labels)], createdAt: Date.now() })
    .onConflictDoNothing()
    .returning();
  if (!row) throw conflict(`a runner named ${input.name} already exists.`, "name");
  return { ...view(row, []), token: secret };
}

export async function listRunners(ctx: DomainContext): Promise<Runner[]> {
  assertAdmin(ctx.actor, "list runners");
  const [rows, leases] = await Promise.all([
    ctx.db.query.runners.findMany({ orderBy: asc(runners.createdAt) }),
    dispatcherOf(ctx.env).leases(),
  ]);
  return rows.map((r) =>
    view(
      r,
      leases
        .filter((l) => l.runnerId === r.id)
        .map((l) => ({ run_id: l.runId, channel_id: l.channelId, attempt: l.attempt, expires_at: iso(l.expiresAt)! })),
    ),
  );
}

export async function deleteRunner(ctx: DomainContext, id: string): Promise<void> {
  assertAdmin(ctx.actor, "remove runners");
  const gone = await ctx.db.delete(runners).where(eq(runners.id, id)).returning({ id: runners.id });
  if (!gone.length) throw new AppError(404, "not_found", `runner ${id} does not exist.`);
}

/**
 * last_seen_at is written at most this often: each write is a D1 row written (free tier:
 * 100,000 a day, issue 15), and a busy runner reaches the Worker every few seconds. Below
 * the claim wait, so an idle runner's every claim still marks it seen, well inside
 * RUNNER_ONLINE_WINDOW_MS (the claim wait plus 30 s).
 */
const LAST_SEEN_RESOLUTION_MS = 60_000;

/**
 * A runner token → the runner it belongs to. Only /runner/v1 accepts these.
 *
 * Every runner request passes here (a busy runner: a claim, an events batch or a heartbeat
 * every few seconds), so the lookup is one raw D1 statement rather than a drizzle query:
 * drizzle's query building cost 0.2–0.5 ms of CPU per request (bench/cpu). Nothing is cached
 * in the isolate: a deleted runner's token is refused on its next request.
 */
export async function authenticateRunner(
  d1: D1Database,
  secret: string,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<RunnerIdentity> {
  if (secretKind(secret) !== "runner") throw new AppError(401, "unauthorized", `${RUNNER_PATH} needs a runner token (loop_runner_…).`);
  const row = await d1
    .prepare("SELECT id, name, labels, last_seen_at FROM runners WHERE token_hash = ?")
    .bind(await sha256Hex(secret))
    .first<{ id: string; name: string; labels: string; last_seen_at: number | null }>();
  if (!row) throw new AppError(401, "unauthorized", "The runner token is not valid.");
  const now = Date.now();
  if (row.last_seen_at === null || now - row.last_seen_at > LAST_SEEN_RESOLUTION_MS) {
    waitUntil(d1.prepare("UPDATE runners SET last_seen_at = ? WHERE id = ?").bind(now, row.id).run());
  }
  return { id: row.id, name: row.name, labels: JSON.parse(row.labels) as string[] };
}
