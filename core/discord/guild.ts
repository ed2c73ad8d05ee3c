/**
 * Creating a Discord text channel for a new directory channel, when a guild is configured
 * (DISCORD_GUILD_ID): the original's `loop mcp --dir`, which made a channel per project.
 */
import { ChannelKind } from "../../protocol/discord-constants.ts";
import type { Config } from "../env.ts";
import { AppError } from "../errors.ts";
import { discordRest, withRetryOn429 } from "./rest.ts";

/** Discord's limits for a channel name and topic. */
const NAME_LIMIT = 100;
const TOPIC_LIMIT = 1024;

/**
 * The new channel's id and guild, or null when no guild is configured. Throws (502) if
 * Discord refuses, before anything is written, so the caller can simply retry.
 */
export async function createGuildChannelFor(cfg: Config, name: string, dirPath: string): Promise<{ id: string; guildId: string } | null> {
  if (!cfg.discordGuildId) return null;
  if (!cfg.discordBotToken) {
    throw new AppError(503, "discord_not_configured", "DISCORD_GUILD_ID is set but DISCORD_BOT_TOKEN is not: Loop cannot create the Discord channel.");
  }
  const guildId = cfg.discordGuildId;
  const rest = discordRest(cfg);
  const res = await withRetryOn429(() =>
    rest.createGuildChannel(guildId, { name: name.slice(0, NAME_LIMIT), type: ChannelKind.GuildText, topic: `Loop: ${dirPath}`.slice(0, TOPIC_LIMIT) }),
  );
  if (!res.ok) {
    throw new AppError(502, "discord_error", `Discord refused to create a channel in guild ${guildId} (HTTP ${res.status}: ${res.message}).`);
  }
  return { id: res.data.id, guildId };
}
