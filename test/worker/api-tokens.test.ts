/** /api/tokens: minting, listing and revoking API tokens, and how they are stored. */
import { env } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiToken } from "../../protocol/api.ts";
import { apiTokens } from "../../core/db/schema.ts";
import {
  call,
  callOk,
  ChannelList,
  createChannel,
  expectError,
  mintToken,
  sha256,
  store,
  tokenRow,
} from "./helpers.ts";

const DAY = 86_400_000;
const TokenList = z.object({ tokens: z.array(ApiToken) });

describe("POST /api/tokens", () => {
  it("mints an admin token whose secret is shown once and works as a bearer token", async () => {
    const before = Date.now();
    const token = await mintToken("admin", { name: "ci" });
    expect(token).toMatchObject({ name: "ci", scope: "admin", expires_at: null, last_used_at: null });
    expect(token.id).toMatch(/^tok_/);
    expect(token.token).toMatch(/^loop_api_[A-Za-z0-9_-]{40,}$/);
    expect(Date.parse(token.created_at)).toBeGreaterThanOrEqual(before);
    // The new secret authenticates as an admin: it may list tokens.
    expect((await call("/api/tokens", { token: token.token })).status).toBe(200);
  });

  it("mints a channel-scoped token limited to the named channels, without duplicates", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const token = await mintToken([a.id, b.id, a.id], { name: "two channels" });
    expect(token.scope).toEqual([a.id, b.id]);
    const { channels } = await callOk(ChannelList, "/api/channels", { token: token.token });
    expect(channels.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
  });

  it("mints a distinct secret every time", async () => {
    const one = await mintToken("admin");
    const two = await mintToken("admin");
    expect(one.token).not.toBe(two.token);
    expect(one.id).not.toBe(two.id);
  });

  it("sets expires_at the given number of days after creation", async () => {
    const token = await mintToken("admin", { expires_in_days: 30 });
    expect(Date.parse(token.expires_at!)).toBe(Date.parse(token.created_at) + 30 * DAY);
  });

  it("stores only the SHA-256 hex of the secret, never the secret itself", async () => {
    const token = await mintToken("admin");
    const row = await tokenRow(token.id);
    expect(row!.tokenHash).toBe(await sha256(token.token));
    expect(row!.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    const raw = await env.DB.prepare("select * from api_tokens where id = ?").bind(token.id).first();
    expect(JSON.stringify(raw)).not.toContain(token.token);
    expect(JSON.stringify(raw)).not.toContain(token.token.slice("loop_api_".length));
  });

  it("refuses a scope naming an unknown channel with 422 naming scope, and mints nothing", async () => {
    const a = await createChannel();
    const before = (await callOk(TokenList, "/api/tokens")).tokens.length;
    const res = await call("/api/tokens", { method: "POST", body: { name: "bad", scope: [a.id, "ch_ghost"] } });
    const err = await expectError(res, 422, { field: "scope" });
    expect(err.message).toContain("ch_ghost");
    expect(err.message).not.toContain(a.id);
    expect((await callOk(TokenList, "/api/tokens")).tokens).toHaveLength(before);
  });
});

describe("GET /api/tokens", () => {
  it("lists tokens newest first without ever returning a secret", async () => {
    const older = await mintToken("admin", { name: "older" });
    const newer = await mintToken("admin", { name: "newer" });
    const res = await call("/api/tokens");
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).not.toContain(older.token);
    expect(text).not.toContain(newer.token);
    expect(text).not.toContain("loop_api_");
    expect(text).not.toContain("token_hash");
    const { tokens } = TokenList.parse(JSON.parse(text));
    for (const t of tokens) expect(Object.keys(t).sort()).toEqual(["created_at", "expires_at", "id", "last_used_at", "name", "scope"]);
    const ids = tokens.map((t) => t.id);
    expect(ids.indexOf(newer.id)).toBeLessThan(ids.indexOf(older.id));
    expect(tokens.find((t) => t.id === older.id)).toMatchObject({ name: "older", scope: "admin" });
  });
});

describe("DELETE /api/tokens/:id", () => {
  it("revokes a token: 204, then it is refused with 401 and no longer listed", async () => {
    const token = await mintToken("admin");
    expect((await call("/api/channels", { token: token.token })).status).toBe(200);

    const res = await call(`/api/tokens/${token.id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    const refused = await call("/api/channels", { token: token.token });
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer/);
    await expectError(refused, 401, { code: "unauthorized" });
    expect((await callOk(TokenList, "/api/tokens")).tokens.map((t) => t.id)).not.toContain(token.id);
    expect(await tokenRow(token.id)).toBeUndefined();
  });

  it("answers 404 for a token that does not exist or was already revoked", async () => {
    const token = await mintToken("admin");
    expect((await call(`/api/tokens/${token.id}`, { method: "DELETE" })).status).toBe(204);
    await expectError(await call(`/api/tokens/${token.id}`, { method: "DELETE" }), 404, { code: "not_found" });
    await expectError(await call("/api/tokens/tok_nope", { method: "DELETE" }), 404, { code: "not_found" });
  });

  it("revokes only the named token", async () => {
    const gone = await mintToken("admin");
    const kept = await mintToken("admin");
    await call(`/api/tokens/${gone.id}`, { method: "DELETE" });
    expect((await call("/api/channels", { token: kept.token })).status).toBe(200);
  });
});

describe("token expiry and use", () => {
  it("refuses an expired token with 401 that says it expired", async () => {
    const token = await mintToken("admin", { expires_in_days: 1 });
    expect((await call("/api/channels", { token: token.token })).status).toBe(200);
    await store().update(apiTokens).set({ expiresAt: Date.now() - 1000 }).where(eq(apiTokens.id, token.id));
    const res = await call("/api/channels", { token: token.token });
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    const err = await expectError(res, 401, { code: "unauthorized" });
    expect(err.message).toContain("expired");
  });

  it("accepts a token until the moment it expires", async () => {
    const token = await mintToken(await createChannel().then((c) => [c.id]), { expires_in_days: 1 });
    await store().update(apiTokens).set({ expiresAt: Date.now() + 60_000 }).where(eq(apiTokens.id, token.id));
    expect((await call("/api/channels", { token: token.token })).status).toBe(200);
  });

  it("records when a token was last used", async () => {
    const token = await mintToken("admin");
    const before = Date.now();
    expect((await call("/api/channels", { token: token.token })).status).toBe(200);
    await expect
      .poll(async () => (await tokenRow(token.id))?.lastUsedAt ?? null, { timeout: 2000, interval: 20 })
      .toBeGreaterThanOrEqual(before);
    const listed = (await callOk(TokenList, "/api/tokens")).tokens.find((t) => t.id === token.id)!;
    expect(Date.parse(listed.last_used_at!)).toBeGreaterThanOrEqual(before);
  });
});
