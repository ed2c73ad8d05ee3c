import { createMiddleware } from "hono/factory";
import { db } from "../db/client.ts";
import { authenticateApi } from "../domain/authn.ts";
import { config } from "../env.ts";
import { AppError } from "../errors.ts";
import type { AppEnv } from "./types.ts";

export function bearer(header: string | undefined): string {
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) throw new AppError(401, "unauthorized", "Send Authorization: Bearer <token>.");
  return match[1]!;
}

/** Authenticates /api requests and puts the domain context on the request. */
export const apiAuth = createMiddleware<AppEnv>(async function apiAuth(c, next) {
  const secret = bearer(c.req.header("authorization"));
  const cfg = config(c.env);
  const store = db(c.env.DB);
  const actor = await authenticateApi(store, cfg, secret, (p) => c.executionCtx.waitUntil(p));
  c.set("domain", { db: store, env: c.env, cfg, actor });
  await next();
});
