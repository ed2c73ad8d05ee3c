/**
 * Dashboard sign-in and sign-out. POST /api/session exchanges a pasted token for the session
 * cookie (it is mounted before apiAuth: the token in its body is the credential); GET tells
 * the dashboard who it is and hands it the CSRF token; DELETE ends the session.
 */
import type { Context } from "hono";
import { Hono } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import { SESSION_COOKIE, SignIn, type Session } from "../../../protocol/dashboard.ts";
import { db } from "../../../core/db/client.ts";
import type { Actor } from "../../../core/domain/actor.ts";
import { signIn, signOut, type SessionAuth } from "../../../core/domain/sessions.ts";
import { iso } from "../../../core/domain/views.ts";
import { config } from "../../../core/env.ts";
import { AppError } from "../../../core/errors.ts";
import type { AppEnv } from "../../http/types.ts";
import { readBody } from "../../http/validate.ts";

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** Secure everywhere but plain-http local development, where browsers would drop it. */
function cookieOptions(c: Context) {
  const url = new URL(c.req.url);
  const secure = url.protocol === "https:" || !LOCAL_HOSTS.has(url.hostname);
  return { httpOnly: true, secure, sameSite: "Strict", path: "/" } as const;
}

function sessionView(actor: Actor, session: SessionAuth | undefined): Session {
  return {
    kind: actor.kind,
    channel_ids: actor.kind === "admin" ? null : actor.kind === "channels" ? actor.channelIds : [actor.channelId],
    csrf_token: session?.csrfToken ?? null,
    expires_at: session ? iso(session.expiresAt) : null,
  };
}

export const signInRoutes = new Hono<AppEnv>().post("/", async (c) => {
  const { token } = await readBody(c, SignIn);
  const { cookie, session } = await signIn(db(c.env.DB), config(c.env), token, (p) => c.executionCtx.waitUntil(p));
  setCookie(c, SESSION_COOKIE, cookie, { ...cookieOptions(c), expires: new Date(session.expiresAt) });
  c.header("cache-control", "no-store");
  return c.json(sessionView(session.actor, session), 201);
});

export const sessionRoutes = new Hono<AppEnv>()
  .get("/", (c) => {
    c.header("cache-control", "no-store");
    return c.json(sessionView(c.var.domain.actor, c.var.session));
  })
  .delete("/", async (c) => {
    const session = c.var.session;
    if (!session) throw new AppError(422, "invalid_request", "Only a dashboard session can sign out; a bearer token is revoked with DELETE /api/tokens/:id.");
    await signOut(c.var.domain.db, session.id);
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c));
    return c.body(null, 204);
  });
