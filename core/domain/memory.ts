/**
 * A channel's two memories (docs/loops.md): persistent memory, kept across iterations and
 * loops, and working memory, which a loop clears when an iteration ends. Text blobs in D1,
 * each at most MAX_MEMORY_CHARS; one rule for REST, MCP and Discord.
 */
import { eq, sql } from "drizzle-orm";
import { MAX_MEMORY_CHARS, type Memory, type MemoryKind } from "../../protocol/api.ts";
import { channelMemory, type ChannelRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { channelRef } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { iso } from "./views.ts";

const column = { persistent: channelMemory.persistent, working: channelMemory.working } as const;

const tooLong = (kind: MemoryKind, length: number) =>
  new AppError(422, "memory_full", `${kind} memory would hold ${length} characters, more than the ${MAX_MEMORY_CHARS} allowed; set it to something shorter first.`, "text");

export async function getMemory(ctx: DomainContext, ref: string | ChannelRow): Promise<Memory> {
  const channel = await channelRef(ctx, ref);
  const row = await ctx.db.query.channelMemory.findFirst({ where: eq(channelMemory.channelId, channel.id) });
  return { channel_id: channel.id, persistent: row?.persistent ?? "", working: row?.working ?? "", updated_at: iso(row?.updatedAt) };
}

/** Replaces one memory ("" clears it). */
export async function setMemory(ctx: DomainContext, ref: string | ChannelRow, kind: MemoryKind, text: string): Promise<Memory> {
  const channel = await channelRef(ctx, ref);
  if (text.length > MAX_MEMORY_CHARS) throw tooLong(kind, text.length);
  const now = Date.now();
  await ctx.db
    .insert(channelMemory)
    .values({ channelId: channel.id, [kind]: text, updatedAt: now })
    .onConflictDoUpdate({ target: channelMemory.channelId, set: { [kind]: text, updatedAt: now } });
  return getMemory(ctx, channel);
}

/**
 * Adds a line to one memory, in one conditional statement: two agents appending at once
 * both land, and an append that would pass the cap changes nothing and is refused.
 */
export async function appendMemory(ctx: DomainContext, ref: string | ChannelRow, kind: MemoryKind, text: string): Promise<Memory> {
  const channel = await channelRef(ctx, ref);
  const col = column[kind];
  const now = Date.now();
  const joined = sql`CASE WHEN ${col} = '' THEN excluded.${sql.raw(kind)} ELSE ${col} || char(10) || excluded.${sql.raw(kind)} END`;
  const rows = await ctx.db
    .insert(channelMemory)
    .values({ channelId: channel.id, [kind]: text, updatedAt: now })
    .onConflictDoUpdate({ target: channelMemory.channelId, set: { [kind]: joined, updatedAt: now }, setWhere: sql`length(${joined}) <= ${MAX_MEMORY_CHARS}` })
    .returning({ channelId: channelMemory.channelId });
  if (!rows.length) {
    const current = await getMemory(ctx, channel);
    throw tooLong(kind, current[kind].length + 1 + text.length);
  }
  return getMemory(ctx, channel);
}
