/**
 * Channels as Discord sees them: the Loop channel behind a Discord channel or thread
 * (created the first time /loop is used there), who owns it, and its directory.
 *
 * A thread is a Loop channel of its own (its own session and run queue) whose parent_id
 * is the parent channel's Loop id; it shares the parent's owners and, when it has none of
 * its own, the parent's directory (see run-state.ts startRun).
 */
import { and, desc, eq, inArray, isNull, sql } from "drizzle-orm";
import { MAX_LIST_PAGE, type Channel, type Task } from "../../protocol/api.ts";
import type { AskPlace } from "../../durable-objects/contracts.ts";
import type { Db } from "../db/client.ts";
import { batchPrepared, preparedPer } from "../db/prepared.ts";
import { runStatusIn } from "../db/run-lookups.ts";
import { channels, relayHolder, runs, tasks, type ChannelRow, type RelayHolderRow, type RunRow, type TaskRow } from "../db/schema.ts";
import { conflict, invalid } from "../errors.ts";
import { loadChannel, normalizeDir } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { scheduleThreadDeletion } from "./thread-deletions.ts";
import { channelView, taskView } from "./views.ts";

export interface DiscordPlace {
  /** The Discord channel (or thread) id. */
  id: string;
  guildId: string;
  name: string;
  /** Set for threads: the channel the thread lives in. */
  parent?: { id: string; name: string } | undefined;
}

/**
 * The Loop channel of a Discord channel, created on first use with the Discord id as its
 * Loop id. Called after the interaction's signature was checked: Discord vouches for it.
 */
export async function ensureDiscordChannel(db: Db, place: DiscordPlace): Promise<ChannelRow> {
  const found = await db.query.channels.findFirst({ where: eq(channels.discordChannelId, place.id) });
  if (found) return found;
  const parent = place.parent ? await ensureDiscordChannel(db, { id: place.parent.id, guildId: place.guildId, name: place.parent.name }) : null;
  const now = Date.now();
  const [row] = await db
    .insert(channels)
    .values({
      id: place.id,
      discordChannelId: place.id,
      guildId: place.guildId,
      name: place.name,
      parentId: parent?.id ?? null,
      // A thread runs where its parent runs.
      runnerLabel: parent?.runnerLabel ?? null,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing()
    .returning();
  // Two interactions racing to create it: the loser reads the winner's row.
  return row ?? (await db.query.channels.findFirst({ where: eq(channels.discordChannelId, place.id) }))!;
}

/** A Discord channel Loop knows, its parent's row (a thread's), and what /loop status shows. */
export interface KnownDiscordChannel {
  channel: ChannelRow;
  parent: ChannelRow | null;
  /** With `withStatus`: its running, queued and waiting runs (newest first), its tasks, and who relays the Gateway. */
  status: { active: RunRow[]; tasks: TaskRow[]; relay: RelayHolderRow | null } | null;
}

/** Statuses /loop status reports: the run that holds the channel and those behind it. */
const ACTIVE_STATUSES = ["running", "queued", "waiting_approval"] as const;

/**
 * The channel of a Discord channel id and its parent, in one D1 round trip (a batch keyed by
 * the Discord id in subqueries), optionally with /loop status's runs and tasks in the same
 * batch: an interaction's answer waits on every round trip (issue 15). Null when Loop has
 * not seen the channel yet (ensureDiscordChannel creates it).
 */
export async function findDiscordChannel(db: Db, discordChannelId: string, withStatus = false): Promise<KnownDiscordChannel | null> {
  const q = discordChannelQueries(db);
  const values = { discordId: discordChannelId };
  if (!withStatus) {
    const [[row], [up]] = await batchPrepared(db, values, [q.self, q.parent]);
    return row ? { channel: row, parent: up ?? null, status: null } : null;
  }
  const [[row], [up], activeRows, taskRows, [relay]] = await batchPrepared(db, values, [q.self, q.parent, q.active, q.tasks, q.relay]);
  return row ? { channel: row, parent: up ?? null, status: { active: activeRows, tasks: taskRows, relay: relay ?? null } } : null;
}

/**
 * findDiscordChannel's statements, prepared once per D1 binding: every interaction reads
 * them, and building their SQL (subqueries included) was a good share of an interaction's
 * CPU (bench/cpu, issue 19).
 */
const discordChannelQueries = preparedPer((db) => {
  const discordId = sql.placeholder("discordId");
  const ids = db.select({ id: channels.id }).from(channels).where(eq(channels.discordChannelId, discordId));
  const parentIds = db.select({ id: channels.parentId }).from(channels).where(eq(channels.discordChannelId, discordId));
  return {
    self: db.select().from(channels).where(eq(channels.discordChannelId, discordId)).limit(1).prepare(),
    parent: db.select().from(channels).where(inArray(channels.id, parentIds)).limit(1).prepare(),
    active: db
      .select()
      .from(runs)
      .where(and(inArray(runs.channelId, ids), runStatusIn(ACTIVE_STATUSES)))
      .orderBy(desc(runs.id))
      .limit(200)
      .prepare(),
    tasks: db.select().from(tasks).where(inArray(tasks.channelId, ids)).orderBy(desc(tasks.id)).limit(MAX_LIST_PAGE).prepare(),
    // The Dispatcher's relay holder, as D1 mirrors it (durable-objects/relay-mirror.ts).
    relay: db.select().from(relayHolder).limit(1).prepare(),
  };
});

/**
 * A Discord channel's tasks in one D1 statement (findDiscordChannel's, the channel found by its
 * Discord id in a subquery), for autocomplete, which must answer within Discord's patience on
 * one round trip (issue 15). A channel Loop has not seen yet has none. Visibility holds by
 * construction: these are the tasks of the channel the interaction came from.
 */
export async function listTasksOfDiscordChannel(db: Db, discordChannelId: string): Promise<Task[]> {
  const rows = await discordChannelQueries(db).tasks.all({ discordId: discordChannelId });
  return rows.map(taskView);
}

/**
 * A thread a run started (its live message's thread): a Loop channel of its own under the
 * run's channel, remembering the run, so follow-ups in it continue the run's conversation.
 */
export async function recordRunThread(db: Db, runId: number, threadId: string, name: string): Promise<void> {
  const run = await db.query.runs.findFirst({ where: eq(runs.id, runId), columns: { channelId: true, sessionId: true } });
  const parent = run && (await db.query.channels.findFirst({ where: eq(channels.id, run.channelId) }));
  if (!parent) return;
  const now = Date.now();
  await db.batch([
    db
      .insert(channels)
      // A run that already finished hands over its session here; one still running, in finishRun.
      .values({ id: threadId, discordChannelId: threadId, guildId: parent.guildId, name, parentId: parent.id, runnerLabel: parent.runnerLabel, originRunId: runId, sessionId: run.sessionId, createdAt: now, updatedAt: now })
      .onConflictDoNothing(),
    // A run that already ended has its thread deleted auto_delete_sec after its end (else finishRun records it).
    scheduleThreadDeletion(db, runId),
  ]);
}

/**
 * The Loop channel of a direct-message conversation, created on its first relayed message
 * (the relay vouches for it: it came over the bot's own Gateway session). The user owns it.
 */
export async function ensureDmChannel(db: Db, channelId: string, user: { id: string; username: string }): Promise<ChannelRow> {
  const found = await db.query.channels.findFirst({ where: eq(channels.discordChannelId, channelId) });
  if (found) return found;
  const now = Date.now();
  const [row] = await db
    .insert(channels)
    .values({ id: channelId, discordChannelId: channelId, guildId: null, name: `dm-${user.username}`, dmUserId: user.id, ownerIds: [user.id], createdAt: now, updatedAt: now })
    .onConflictDoNothing()
    .returning();
  return row ?? (await db.query.channels.findFirst({ where: eq(channels.discordChannelId, channelId) }))!;
}

/** What /loop answers in a direct message with the bot that belongs to someone else. */
export const NOT_YOUR_DM = "/loop works in server channels, threads and your own direct messages with the bot.";

/**
 * The Loop channel an interaction's place stands for, created on first use; a string says
 * why /loop cannot be used there (another user's direct message with the bot).
 */
export async function channelOfPlace(db: Db, place: AskPlace): Promise<ChannelRow | string> {
  if (place.kind === "guild") return ensureDiscordChannel(db, { id: place.channelId, guildId: place.guildId, name: place.name, parent: place.parent });
  const channel = await ensureDmChannel(db, place.channelId, place.user);
  return channel.dmUserId === place.user.id ? channel : NOT_YOUR_DM;
}

/** Whether the user owns any Loop channel (DMs are not counted: everyone owns their own). */
export async function ownsAnyChannel(db: Db, userId: string): Promise<boolean> {
  const row = await db
    .select({ id: channels.id })
    .from(channels)
    .where(and(isNull(channels.dmUserId), sql`EXISTS (SELECT 1 FROM json_each(${channels.ownerIds}) WHERE json_each.value = ${userId})`))
    .limit(1);
  return row.length > 0;
}

/** The row whose owners govern this channel: the parent for a thread. */
export async function ownersHolder(db: Db, channel: ChannelRow): Promise<ChannelRow> {
  if (!channel.parentId) return channel;
  return (await db.query.channels.findFirst({ where: eq(channels.id, channel.parentId) })) ?? channel;
}

/**
 * Binds the channel to a directory on the runner host, replacing any earlier one. The
 * Claude session is forgotten with the old directory: sessions are stored per project
 * directory, so it could not be resumed from the new one.
 */
export async function bindDirectory(ctx: DomainContext, channelId: string, dirPath: string): Promise<{ channel: Channel; changed: boolean }> {
  const channel = await loadChannel(ctx, channelId);
  const dir = normalizeDir(dirPath);
  if (!dir.startsWith("/")) throw invalid("path must be an absolute path, e.g. /home/me/projects/api", "path");
  if (channel.dirPath === dir) return { channel: channelView(channel), changed: false };
  const holder = await ctx.db.query.channels.findFirst({ where: eq(channels.dirPath, dir), columns: { id: true } });
  if (holder) throw conflict(`${dir} is already bound to another Loop channel; each directory belongs to one channel.`, "path");
  try {
    const [row] = await ctx.db
      .update(channels)
      .set({ dirPath: dir, sessionId: null, updatedAt: Date.now() })
      .where(eq(channels.id, channel.id))
      .returning();
    return { channel: channelView(row!), changed: true };
  } catch (err) {
    // UNIQUE (dir_path): another channel took it between the check and the update.
    if ((await ctx.db.query.channels.findFirst({ where: eq(channels.dirPath, dir), columns: { id: true } }))?.id !== channel.id) {
      throw conflict(`${dir} is already bound to another Loop channel; each directory belongs to one channel.`, "path");
    }
    throw err;
  }
}

/** Adds owners (Discord user ids) to the channel, or to its parent for a thread. */
export async function addOwners(ctx: DomainContext, channelId: string, userIds: string[]): Promise<string[]> {
  const holder = await ownersHolder(ctx.db, await loadChannel(ctx, channelId));
  const owners = [...new Set([...holder.ownerIds, ...userIds])];
  await ctx.db.update(channels).set({ ownerIds: owners, updatedAt: Date.now() }).where(eq(channels.id, holder.id));
  return owners;
}

/**
 * Removes an owner. The last owner cannot be removed: an empty list would put the channel
 * back in bootstrap mode, where everyone is an owner.
 */
export async function removeOwner(ctx: DomainContext, channelId: string, userId: string): Promise<string[]> {
  const holder = await ownersHolder(ctx.db, await loadChannel(ctx, channelId));
  if (!holder.ownerIds.includes(userId)) throw invalid("that user is not an owner of this channel.", "user");
  const owners = holder.ownerIds.filter((id) => id !== userId);
  if (!owners.length) throw conflict("the last owner cannot be removed: add another owner first.", "user");
  await ctx.db.update(channels).set({ ownerIds: owners, updatedAt: Date.now() }).where(eq(channels.id, holder.id));
  return owners;
}
