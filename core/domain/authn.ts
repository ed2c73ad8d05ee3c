/** Turns a bearer secret into an Actor, or refuses it with a 401 that says why. */
import { RUNNER_PATH } from "../../protocol/runner.ts";
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiTokens, type ApiTokenRow } from "../db/schema.ts";
import type { Config } from "../env.ts";
import { AppError } from "../errors.ts";
import type { Actor } from "./actor.ts";
import { secretKind, secretsEqual, sha256Hex } from "./secrets.ts";

const unauthorized = (message: string) => new AppError(401, "unauthorized", message);

/** last_used_at is advisory: write it at most once a minute per token, not per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export async function authenticateApi(
  db: Db,
  cfg: Config,
  secret: string,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<Actor> {
  if (cfg.adminToken && (await secretsEqual(secret, cfg.adminToken))) return { kind: "admin", tokenId: null };
  const kind = secretKind(secret);
  if (kind === "runner") throw unauthorized(`Runner tokens only work on ${RUNNER_PATH}.`);
  if (kind !== "api" && kind !== "run") throw unauthorized("The bearer token is not valid.");

  const row = await db.query.apiTokens.findFirst({ where: eq(apiTokens.tokenHash, await sha256Hex(secret)) });
  if (!row) throw unauthorized("The bearer token is not valid.");
  const now = Date.now();
  if (row.expiresAt !== null && row.expiresAt <= now) throw unauthorized(`Token ${row.id} has expired.`);
  // A run's own token is never listed (GET /api/tokens leaves them out) and dies with its run:
  // its last use would be a D1 row written per run for nobody (issue 15).
  if (row.runId === null && (row.lastUsedAt === null || now - row.lastUsedAt > LAST_USED_RESOLUTION_MS)) {
    waitUntil(db.update(apiTokens).set({ lastUsedAt: now }).where(eq(apiTokens.id, row.id)));
  }
  return tokenActor(row);
}

/** The actor a stored token stands for; a dashboard session resolves through this too. */
export function tokenActor(row: ApiTokenRow): Actor {
  if (row.runId !== null && Array.isArray(row.scope)) return { kind: "run", runId: row.runId, channelId: row.scope[0]! };
  return row.scope === "admin"
    ? { kind: "admin", tokenId: row.id }
    : { kind: "channels", tokenId: row.id, channelIds: row.scope };
}
