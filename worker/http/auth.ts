import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { CSRF_HEADER, SESSION_COOKIE } from "../../protocol/dashboard.ts";
import { db } from "../../core/db/client.ts";
import { authenticateApi } from "../../core/domain/authn.ts";
import { secretsEqual } from "../../core/domain/secrets.ts";
import { authenticateSession, type SessionAuth } from "../../core/domain/sessions.ts";
import { config } from "../../core/env.ts";
import { AppError } from "../../core/errors.ts";
import type { AppEnv } from "./types.ts";

export function bearer(header: string | undefined): string {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new AppError(401, "unauthorized", "Send Authorization: Bearer <token>.");
  return match[1]!;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Authenticates /api requests and puts the domain context on the request. A bearer token
 * wins; without one, the dashboard's session cookie establishes the same actor its token
 * would. Writes made with the cookie must come from this origin and carry the session's
 * CSRF token (SameSite=Strict already keeps other sites' requests from carrying the cookie;
 * the header also stops a same-site page that is not the dashboard).
 */
export const apiAuth = createMiddleware<AppEnv>(async function apiAuth(c, next) {
  const cfg = config(c.env);
  const store = db(c.env.DB);
  const header = c.req.header("authorization");
  const cookie = header === undefined ? getCookie(c, SESSION_COOKIE) : undefined;
  if (cookie) {
    const session = await authenticateSession(store, cfg, cookie);
    if (!SAFE_METHODS.has(c.req.method)) await checkCsrf(c, session);
    c.set("session", session);
    c.set("domain", { db: store, env: c.env, cfg, actor: session.actor });
  } else {
    const actor = await authenticateApi(store, cfg, bearer(header), (p) => c.executionCtx.waitUntil(p));
    c.set("domain", { db: store, env: c.env, cfg, actor });
  }
  await next();
});

async function checkCsrf(c: Context<AppEnv>, session: SessionAuth): Promise<void> {
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    throw new AppError(403, "csrf", `A write from ${origin} cannot use this site's session.`);
  }
  const sent = c.req.header(CSRF_HEADER);
  if (!sent || !(await secretsEqual(sent, session.csrfToken))) {
    throw new AppError(403, "csrf", `Writes with the session cookie need the ${CSRF_HEADER} header from GET /api/session.`);
  }
}
