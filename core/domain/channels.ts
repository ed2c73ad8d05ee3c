/**
 * Channels: a conversation place (a Discord channel or thread, or a directory-only channel
 * created over REST/MCP) bound to a project directory on the runner host.
 */
import { posix } from "node:path";
import { and, asc, eq, gt, inArray, or, sql } from "drizzle-orm";
import { MAX_LIST_PAGE, type Channel, type EnsureChannel } from "../../protocol/api.ts";
import { preparedPer } from "../db/prepared.ts";
import { channels, type ChannelRow } from "../db/schema.ts";
import { createGuildChannelFor } from "../discord/guild.ts";
import { conflict, notFound } from "../errors.ts";
import { log } from "../log.ts";
import { assertAdmin, assertChannelVisible, canSeeChannel, visibleChannels } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { randomId } from "./secrets.ts";
import { channelView } from "./views.ts";

const SNOWFLAKE = /^\d{17,20}$/;

/**
 * Prepared once per D1 binding (core/db/prepared.ts), with the core builder: every REST, MCP
 * and Discord call on a channel starts here, and the relational builder (db.query) cost
 * several times the CPU for the same row (bench/cpu, issue 19).
 */
const channelByRef = preparedPer((db) =>
  db
    .select()
    .from(channels)
    .where(or(eq(channels.id, sql.placeholder("ref")), eq(channels.discordChannelId, sql.placeholder("ref"))))
    .limit(1)
    .prepare(),
);

/** A channel by its Loop id or its Discord channel id, if the actor may see it. */
export async function loadChannel(ctx: DomainContext, idOrDiscordId: string): Promise<ChannelRow> {
  const row = await channelByRef(ctx.db).get({ ref: idOrDiscordId });
  if (!row || !canSeeChannel(ctx.actor, row.id)) throw notFound("channel", idOrDiscordId);
  return row;
}

/**
 * A channel named by id (loaded, visibility checked) or one the caller already loaded
 * (visibility still checked, no second read): Discord handlers hold the row already.
 */
export async function channelRef(ctx: DomainContext, ref: string | ChannelRow): Promise<ChannelRow> {
  if (typeof ref === "string") return loadChannel(ctx, ref);
  if (!canSeeChannel(ctx.actor, ref.id)) throw notFound("channel", ref.id);
  return ref;
}

export async function getChannel(ctx: DomainContext, id: string): Promise<Channel> {
  return channelView(await loadChannel(ctx, id));
}

/** Oldest first, one page of at most MAX_LIST_PAGE; `after` is the last channel of the previous page. */
export async function listChannels(ctx: DomainContext, page: { limit?: number; after?: string | undefined } = {}): Promise<Channel[]> {
  const visible = visibleChannels(ctx.actor);
  const where = [visible ? inArray(channels.id, visible) : undefined];
  if (page.after !== undefined) {
    const last = await loadChannel(ctx, page.after);
    // (created_at, id) orders channels made in the same millisecond too.
    where.push(or(gt(channels.createdAt, last.createdAt), and(eq(channels.createdAt, last.createdAt), gt(channels.id, last.id))));
  }
  const rows = await ctx.db.query.channels.findMany({
    where: and(...where),
    orderBy: [asc(channels.createdAt), asc(channels.id)],
    limit: Math.min(page.limit ?? MAX_LIST_PAGE, MAX_LIST_PAGE),
  });
  return rows.map(channelView);
}

/**
 * Directories are stored normalised ("." and ".." resolved, no doubled or trailing slash), so
 * "/a/b/", "/a/./b" and "/a//b" are one channel: the one directory on the runner host.
 */
export const normalizeDir = (path: string): string => posix.normalize(path).replace(/(.)\/+$/, "$1");

/** The channel bound to a directory, if the actor may see it (MCP's dir_path argument). */
export async function loadChannelByDir(ctx: DomainContext, dirPath: string): Promise<ChannelRow> {
  const dir = normalizeDir(dirPath);
  const row = await ctx.db.query.channels.findFirst({ where: eq(channels.dirPath, dir) });
  if (!row || !canSeeChannel(ctx.actor, row.id)) throw notFound("channel for dir_path", dir);
  return row;
}

function basename(path: string): string {
  const parts = path.replace(/\/+$/, "").split("/");
  return parts[parts.length - 1] || path;
}

/**
 * Ensures a channel exists for a directory (the original's `loop mcp --dir`). Returns the
 * existing one unchanged when the directory is already bound; with channel_id, binds that
 * channel (by Loop or Discord id) to the directory.
 */
export async function ensureChannel(
  ctx: DomainContext,
  input: EnsureChannel,
): Promise<{ channel: Channel; created: boolean }> {
  const dirPath = normalizeDir(input.dir_path);
  const existing = await ctx.db.query.channels.findFirst({ where: eq(channels.dirPath, dirPath) });
  if (existing) {
    // Visibility first: a scoped token must not learn which channel holds another directory.
    assertChannelVisible(ctx.actor, existing.id, "channel for dir_path", dirPath);
    if (input.channel_id && input.channel_id !== existing.id && input.channel_id !== existing.discordChannelId) {
      throw conflict(`dir_path ${dirPath} is already bound to channel ${existing.id}.`, "dir_path");
    }
    return { channel: channelView(existing), created: false };
  }

  if (input.channel_id) {
    const byId = await ctx.db.query.channels.findFirst({
      where: or(eq(channels.id, input.channel_id), eq(channels.discordChannelId, input.channel_id)),
    });
    if (byId) {
      assertChannelVisible(ctx.actor, byId.id, "channel", input.channel_id);
      if (byId.dirPath && byId.dirPath !== dirPath) {
        throw conflict(`channel ${byId.id} is already bound to ${byId.dirPath}.`, "channel_id");
      }
      const [row] = await ctx.db
        .update(channels)
        .set({ dirPath, updatedAt: Date.now() })
        .where(eq(channels.id, byId.id))
        .returning();
      return { channel: channelView(row!), created: false };
    }
    if (!SNOWFLAKE.test(input.channel_id)) throw notFound("channel", input.channel_id);
  }

  assertAdmin(ctx.actor, "create channels");
  const name = input.name ?? basename(dirPath);
  // With a guild configured, a new directory gets its own Discord channel (null otherwise).
  const discord = input.channel_id ? null : await createGuildChannelFor(ctx.cfg, name, dirPath);
  const now = Date.now();
  const [row] = await ctx.db
    .insert(channels)
    .values({
      id: input.channel_id ?? discord?.id ?? randomId("ch_"),
      discordChannelId: input.channel_id ?? discord?.id ?? null,
      guildId: discord?.guildId ?? null,
      name,
      dirPath,
      createdAt: now,
      updatedAt: now,
    })
    // Two clients ensuring the same directory at once: the loser reads the winner's row.
    .onConflictDoNothing()
    .returning();
  if (!row) {
    if (discord) log.warn("channels: lost a race after creating a Discord channel; it is left unused", { discordChannelId: discord.id, dirPath });
    return ensureChannel(ctx, input);
  }
  return { channel: channelView(row), created: true };
}

/** Changes fields of a channel the actor can see; the one write path for channel settings. */
async function patchChannel(
  ctx: DomainContext,
  id: string,
  values: Partial<Pick<ChannelRow, "sessionId" | "runnerLabel">>,
): Promise<Channel> {
  const channel = await loadChannel(ctx, id);
  const [row] = await ctx.db
    .update(channels)
    .set({ ...values, updatedAt: Date.now() })
    .where(eq(channels.id, channel.id))
    .returning();
  return channelView(row!);
}

/**
 * Forgets the channel's Claude session: its next run starts a fresh conversation. In a
 * run's thread, only the thread's (the parent keeps its own).
 */
export const resetSession = (ctx: DomainContext, id: string): Promise<Channel> => patchChannel(ctx, id, { sessionId: null });

/**
 * Sets the channel's settings that PATCH /api/channels/:id takes. session_id lets `loop
 * import` bring a conversation over from the original Loop: the next run resumes it.
 */
export function setChannel(ctx: DomainContext, id: string, patch: { runner_label?: string | null; session_id?: string | null }): Promise<Channel> {
  return patchChannel(ctx, id, {
    ...(patch.runner_label !== undefined ? { runnerLabel: patch.runner_label } : {}),
    ...(patch.session_id !== undefined ? { sessionId: patch.session_id } : {}),
  });
}
