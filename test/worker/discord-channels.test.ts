/**
 * Discord on the REST side: POST /api/channels with a guild configured creates the Discord
 * channel for the directory (the original's `loop mcp --dir`), and postToChannel (MCP's
 * send_message) goes through the one Discord REST module.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { db } from "../../core/db/client.ts";
import type { DomainContext } from "../../core/domain/context.ts";
import { ensureChannel } from "../../core/domain/channels.ts";
import { postToChannel } from "../../core/domain/messages.ts";
import { config, type Env } from "../../core/env.ts";
import { admin, discordCalls, fakeRule, snowflake } from "./discord-helpers.ts";

const GUILD = "910000000000000001";

/** The domain as the Worker builds it, with DISCORD_GUILD_ID set (the test Worker has none). */
function withGuild(overrides: Partial<Env> = {}): DomainContext {
  const e = { ...env, DISCORD_GUILD_ID: GUILD, ...overrides } as Env;
  return { db: db(e.DB), env: e, cfg: config(e), actor: { kind: "admin", tokenId: null } };
}

const dir = () => `/srv/guild-${crypto.randomUUID()}`;

describe("ensureChannel with a guild", () => {
  it("creates a Discord text channel for a new directory and binds it", async () => {
    const path = dir();
    const { channel, created } = await ensureChannel(withGuild(), { dir_path: path, name: "My API" });
    expect(created).toBe(true);
    const [call] = await discordCalls(`/guilds/${GUILD}/channels`).then((c) => c.filter((x) => x.body?.topic === `Loop: ${path}`));
    expect(call).toMatchObject({ method: "POST", auth: "bot", status: 201, body: { name: "My API", type: 0, topic: `Loop: ${path}` } });
    expect(channel).toMatchObject({ id: call!.response.id, discord_channel_id: call!.response.id, guild_id: GUILD, dir_path: path, name: "My API" });
  });

  it("does not create a second Discord channel for a directory already bound", async () => {
    const path = dir();
    await ensureChannel(withGuild(), { dir_path: path });
    const again = await ensureChannel(withGuild(), { dir_path: path });
    expect(again.created).toBe(false);
    expect((await discordCalls(`/guilds/${GUILD}/channels`)).filter((c) => c.body?.topic === `Loop: ${path}`)).toHaveLength(1);
  });

  it("binds a given Discord channel without creating one", async () => {
    const path = dir();
    const id = snowflake();
    const { channel } = await ensureChannel(withGuild(), { dir_path: path, channel_id: id });
    expect(channel.discord_channel_id).toBe(id);
    expect((await discordCalls(`/guilds/${GUILD}/channels`)).filter((c) => c.body?.topic === `Loop: ${path}`)).toEqual([]);
  });

  it("writes nothing when Discord refuses, and says so", async () => {
    const path = dir();
    await fakeRule("ratelimit", { match: `/guilds/${GUILD}/channels`, count: 1, retry_after: 30 });
    await expect(ensureChannel(withGuild(), { dir_path: path })).rejects.toMatchObject({ status: 502, code: "discord_error" });
    expect(await env.DB.prepare("SELECT id FROM channels WHERE dir_path = ?").bind(path).first()).toBeNull();
  });

  it("without a guild, POST /api/channels makes no Discord call", async () => {
    const path = dir();
    const res = await admin("POST", "/api/channels", { dir_path: path });
    expect(res.status).toBe(201);
    expect(res.body.discord_channel_id).toBeNull();
    expect((await discordCalls("/guilds/")).filter((c) => c.body?.topic === `Loop: ${path}`)).toEqual([]);
  });
});

describe("postToChannel", () => {
  it("posts with the bot token, pinging nobody", async () => {
    const id = snowflake();
    const ctx = withGuild();
    await ensureChannel(ctx, { dir_path: dir(), channel_id: id });
    const { message_id } = await postToChannel(ctx, id, "@everyone the build is green");
    const [call] = await discordCalls(`/channels/${id}/messages`);
    expect(call).toMatchObject({ method: "POST", auth: "bot", body: { content: "@everyone the build is green", allowed_mentions: { parse: [] } } });
    expect(message_id).toBe(call!.response.id);
  });

  it("retries once after a short 429, and reports a refusal as 502", async () => {
    const id = snowflake();
    const ctx = withGuild();
    await ensureChannel(ctx, { dir_path: dir(), channel_id: id });
    await fakeRule("ratelimit", { match: `/channels/${id}/messages`, count: 1, retry_after: 0.2 });
    await postToChannel(ctx, id, "after a short wait");
    const calls = await discordCalls(`/channels/${id}/messages`);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(190);

    await fakeRule("ratelimit", { match: `/channels/${id}/messages`, count: 1, retry_after: 60 });
    await expect(postToChannel(ctx, id, "too long a wait")).rejects.toMatchObject({ status: 502, code: "discord_error" });
  });
});
