/**
 * Dashboard sessions. A person pastes a token once; it is checked exactly as a bearer token
 * is (authenticateApi) and exchanged for a random cookie secret. The session stands for that
 * token: its scope is the token's, re-read on every request, so deleting or expiring the
 * token ends the session too. Only the cookie's SHA-256 is stored.
 */
import { eq, lte } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { apiTokens, dashboardSessions } from "../db/schema.ts";
import type { Config } from "../env.ts";
import { AppError, invalid } from "../errors.ts";
import type { Actor } from "./actor.ts";
import { authenticateApi, tokenActor } from "./authn.ts";
import { base64url, secretsEqual, sha256Hex } from "./secrets.ts";

/** A session lasts this long from sign-in (or until its token expires, if sooner). */
export const SESSION_TTL_SECONDS = 12 * 3600;

export interface SessionAuth {
  /** The stored id: the cookie secret's SHA-256. */
  id: string;
  actor: Actor;
  csrfToken: string;
  expiresAt: number;
}

const ended = () => new AppError(401, "session_ended", "Your dashboard session has ended; sign in again.");

export async function signIn(
  db: Db,
  cfg: Config,
  secret: string,
  waitUntil: (p: Promise<unknown>) => void,
): Promise<{ cookie: string; session: SessionAuth }> {
  const actor = await authenticateApi(db, cfg, secret, waitUntil);
  if (actor.kind === "run") throw invalid("a run token belongs to its agent; sign in with an admin or channel token.", "token");
  const now = Date.now();
  let expiresAt = now + SESSION_TTL_SECONDS * 1000;
  if (actor.tokenId) {
    const token = await db.query.apiTokens.findFirst({ where: eq(apiTokens.id, actor.tokenId) });
    if (token?.expiresAt != null) expiresAt = Math.min(expiresAt, token.expiresAt);
  }
  const cookie = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const session: SessionAuth = {
    id: await sha256Hex(cookie),
    actor,
    csrfToken: base64url(crypto.getRandomValues(new Uint8Array(24))),
    expiresAt,
  };
  await db.batch([
    // Sign-ins are rare: they are the moment to forget sessions that have ended.
    db.delete(dashboardSessions).where(lte(dashboardSessions.expiresAt, now)),
    db.insert(dashboardSessions).values({
      id: session.id,
      tokenId: actor.tokenId,
      adminDigest: actor.kind === "admin" && actor.tokenId === null ? await sha256Hex(cfg.adminToken!) : null,
      csrfToken: session.csrfToken,
      expiresAt,
    }),
  ]);
  return { cookie, session };
}

/** The session a cookie names, with the actor its token stands for now; 401 once it has ended. */
export async function authenticateSession(db: Db, cfg: Config, cookie: string): Promise<SessionAuth> {
  const [found] = await db
    .select()
    .from(dashboardSessions)
    .leftJoin(apiTokens, eq(apiTokens.id, dashboardSessions.tokenId))
    .where(eq(dashboardSessions.id, await sha256Hex(cookie)))
    .limit(1);
  const now = Date.now();
  if (!found || found.dashboard_sessions.expiresAt <= now) throw ended();
  const row = found.dashboard_sessions;
  let actor: Actor;
  if (row.tokenId !== null) {
    const token = found.api_tokens;
    if (!token || (token.expiresAt !== null && token.expiresAt <= now)) throw ended();
    actor = tokenActor(token);
  } else {
    // Signed in with the ADMIN_TOKEN secret: valid only while that secret is unchanged.
    if (!cfg.adminToken || !row.adminDigest || !(await secretsEqual(row.adminDigest, await sha256Hex(cfg.adminToken)))) throw ended();
    actor = { kind: "admin", tokenId: null };
  }
  return { id: row.id, actor, csrfToken: row.csrfToken, expiresAt: row.expiresAt };
}

export async function signOut(db: Db, sessionId: string): Promise<void> {
  await db.delete(dashboardSessions).where(eq(dashboardSessions.id, sessionId));
}
