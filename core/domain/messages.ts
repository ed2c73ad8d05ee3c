/** Posting into a channel's Discord channel on the agent's or a task's behalf. */
import type { DomainContext } from "./context.ts";
import { loadChannel } from "./channels.ts";
import { AppError } from "../errors.ts";
import { discordRest, withRetryOn429 } from "../discord/rest.ts";
import { MESSAGE_CONTENT_LIMIT } from "../../protocol/discord-constants.ts";

export async function postToChannel(ctx: DomainContext, channelId: string, text: string): Promise<{ message_id: string }> {
  const channel = await loadChannel(ctx, channelId);
  if (!channel.discordChannelId) {
    throw new AppError(422, "no_discord_channel", `channel ${channel.id} has no Discord channel to post in.`, "channel_id");
  }
  if (!ctx.cfg.discordBotToken) {
    throw new AppError(503, "discord_not_configured", "DISCORD_BOT_TOKEN is not set on the Worker.");
  }
  const rest = discordRest(ctx.cfg);
  const res = await withRetryOn429(() =>
    rest.createMessage(channel.discordChannelId!, { content: text.slice(0, MESSAGE_CONTENT_LIMIT), allowed_mentions: { parse: [] } }),
  );
  if (!res.ok) throw new AppError(502, "discord_error", `Discord refused the message (HTTP ${res.status}: ${res.message}).`);
  return { message_id: res.data.id };
}
