/**
 * Who is asking, where, and what they may do there.
 *
 * Actor: after the signature check, a Discord user acts through a channel-scoped actor
 * whose channels are the Loop channel of the Discord channel the command came from (and,
 * in a thread, its parent's, whose scheduled runs post in threads), with tokenId
 * "discord:<user id>". Every domain rule then holds as for a scoped API token: a task id
 * from another channel is "not found", nothing else is visible. The permission check
 * below decides owner-only subcommands on top of that.
 *
 * Roles, per channel (threads use their parent's): owners manage tasks, templates, the
 * directory, the session and the owner list; members ask, stop their own runs and read.
 * A channel with no owners is in bootstrap mode: everyone is an owner until `/loop owner
 * add` names one. Members with Discord's Administrator permission always count as owners,
 * so a channel whose owners have left can still be managed.
 */
import { ADMINISTRATOR, ChannelKind } from "../../protocol/discord-constants.ts";
import type { Db } from "../../core/db/client.ts";
import type { ChannelRow } from "../../core/db/schema.ts";
import type { Actor } from "../../core/domain/actor.ts";
import type { DomainContext } from "../../core/domain/context.ts";
import { channelOfPlace, ensureDiscordChannel, findDiscordChannel, ownersHolder, type KnownDiscordChannel } from "../../core/domain/discord-channels.ts";
import type { AskPlace } from "../../durable-objects/contracts.ts";
import type { Config, Env } from "../../core/env.ts";
import type { Interaction } from "./interaction-payload.ts";

export interface Access {
  ctx: DomainContext;
  channel: ChannelRow;
  /** Where the owners and a missing directory come from: the parent's row in a thread, else the channel. */
  holder: ChannelRow;
  /** /loop status's rows, read in the same round trip as the channel (resolveAccess's preloadStatus). */
  status: KnownDiscordChannel["status"];
  userId: string;
  owners: string[];
  /** No owners yet: everyone may manage the channel. */
  bootstrap: boolean;
  isOwner: boolean;
}

const THREADS = new Set<number>([ChannelKind.PublicThread, ChannelKind.PrivateThread, ChannelKind.AnnouncementThread]);

/**
 * Where the interaction came from and who sent it, from its payload alone (no I/O); a
 * string says why /loop cannot be used there.
 */
export function placeOf(i: Interaction): { place: AskPlace; userId: string } | string {
  const user = i.member?.user;
  const channelId = i.channel?.id ?? i.channel_id;
  if (!i.guild_id && i.user && channelId) return { place: { kind: "dm", channelId, user: { id: i.user.id, username: i.user.username ?? i.user.id } }, userId: i.user.id };
  if (!i.guild_id || !user || !channelId) return "/loop works in server channels, threads and the bot's direct messages.";
  const thread = i.channel && THREADS.has(i.channel.type) && i.channel.parent_id ? i.channel.parent_id : null;
  return {
    place: { kind: "guild", channelId, guildId: i.guild_id, name: i.channel?.name ?? `channel-${channelId}`, parent: thread ? { id: thread, name: `channel-${thread}` } : undefined },
    userId: user.id,
  };
}

/** The interaction's channel, user and role; a string says why /loop cannot be used here. */
export async function resolveAccess(db: Db, env: Env, cfg: Config, i: Interaction, opts: { preloadStatus?: boolean } = {}): Promise<Access | string> {
  const from = placeOf(i);
  if (typeof from === "string") return from;
  const { place, userId } = from;
  if (place.kind === "dm") return dmAccess(db, env, cfg, place, userId);
  // A channel Loop knows: one D1 round trip. Its first interaction creates its row.
  const known = await findDiscordChannel(db, place.channelId, opts.preloadStatus);
  const channel = known?.channel ?? (await ensureDiscordChannel(db, { id: place.channelId, guildId: place.guildId, name: place.name, parent: place.parent }));
  const holder = known ? (channel.parentId ? (known.parent ?? channel) : channel) : await ownersHolder(db, channel);
  const owners = holder.ownerIds;
  const bootstrap = owners.length === 0;
  const isAdmin = hasAdministrator(i.member?.permissions);
  // A thread is part of its parent: its runs may be the parent's (a scheduled run's thread).
  const channelIds = channel.parentId ? [channel.id, channel.parentId] : [channel.id];
  const actor: Actor = { kind: "channels", tokenId: `discord:${userId}`, channelIds };
  return {
    ctx: { db, env, cfg, actor },
    channel,
    holder,
    status: known?.status ?? null,
    userId,
    owners,
    bootstrap,
    isOwner: bootstrap || isAdmin || owners.includes(userId),
  };
}

/**
 * A DM with the bot: its own Loop channel, owned by the one user in it (the same row the
 * conversation relay uses), so `/loop dir` there gives DMs a directory.
 */
async function dmAccess(db: Db, env: Env, cfg: Config, place: AskPlace, userId: string): Promise<Access | string> {
  const channel = await channelOfPlace(db, place);
  if (typeof channel === "string") return channel;
  const actor: Actor = { kind: "channels", tokenId: `discord:${userId}`, channelIds: [channel.id] };
  return { ctx: { db, env, cfg, actor }, channel, holder: channel, status: null, userId, owners: [userId], bootstrap: false, isOwner: true };
}

function hasAdministrator(permissions: string | undefined): boolean {
  if (!permissions || !/^\d+$/.test(permissions)) return false;
  return (BigInt(permissions) & ADMINISTRATOR) !== 0n;
}

/** What a member who is not an owner sees when trying an owner-only subcommand. */
export function ownersOnly(access: Access, what: string): string {
  const list = access.owners.map((id) => `<@${id}>`).join(", ");
  return `🔒 Only this channel's owners can ${what}. Owners: ${list}.`;
}
