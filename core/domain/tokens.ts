/** API tokens: minted by admins, scoped to all channels or a list; stored as hashes only. */
import { and, desc, eq, inArray, isNull } from "drizzle-orm";
import type { ApiToken, CreateToken } from "../../protocol/api.ts";
import { apiTokens, channels } from "../db/schema.ts";
import { invalid, notFound } from "../errors.ts";
import { assertAdmin } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { mintSecret, randomId, sha256Hex } from "./secrets.ts";
import { tokenView } from "./views.ts";

export async function createToken(ctx: DomainContext, input: CreateToken): Promise<ApiToken & { token: string }> {
  assertAdmin(ctx.actor, "mint tokens");
  if (input.scope !== "admin") {
    const wanted = [...new Set(input.scope)];
    const found = await ctx.db.select({ id: channels.id }).from(channels).where(inArray(channels.id, wanted));
    const missing = wanted.filter((id) => !found.some((f) => f.id === id));
    if (missing.length) throw invalid(`scope names unknown channel ${missing.join(", ")}.`, "scope");
  }
  const secret = mintSecret("api");
  const now = Date.now();
  const [row] = await ctx.db
    .insert(apiTokens)
    .values({
      id: randomId("tok_"),
      name: input.name,
      tokenHash: await sha256Hex(secret),
      scope: input.scope === "admin" ? "admin" : [...new Set(input.scope)],
      expiresAt: input.expires_in_days ? now + input.expires_in_days * 86_400_000 : null,
      createdAt: now,
    })
    .returning();
  return { ...tokenView(row!), token: secret };
}

export async function listTokens(ctx: DomainContext): Promise<ApiToken[]> {
  assertAdmin(ctx.actor, "list tokens");
  // Run tokens come and go with their runs; they are not for people to manage.
  const rows = await ctx.db.query.apiTokens.findMany({ where: isNull(apiTokens.runId), orderBy: desc(apiTokens.createdAt) });
  return rows.map(tokenView);
}

export async function deleteToken(ctx: DomainContext, id: string): Promise<void> {
  assertAdmin(ctx.actor, "revoke tokens");
  const deleted = await ctx.db
    .delete(apiTokens)
    .where(and(eq(apiTokens.id, id), isNull(apiTokens.runId)))
    .returning({ id: apiTokens.id });
  if (!deleted.length) throw notFound("token", id);
}
