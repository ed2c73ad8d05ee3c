/**
 * Where permission policies live (issue 13): a channel's, a task's override, and the policy
 * a run follows. Every write goes through here.
 */
import { and, eq, isNull, sql, type SQL } from "drizzle-orm";
import type { Channel } from "../../protocol/api.ts";
import type { PermissionPolicy } from "../../protocol/policy.ts";
import type { Db } from "../db/client.ts";
import { channels, tasks, type ChannelRow, type RunRow } from "../db/schema.ts";
import { loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { assertMayGovern, policyOf } from "./policy.ts";
import { channelView } from "./views.ts";

/** The policy a run follows: its task's override, else its channel's (a thread's parent's when it has none). */
export async function effectivePolicy(db: Db, run: Pick<RunRow, "taskId" | "channelId">): Promise<{ policy: PermissionPolicy; source: { taskId: number } | { channelId: string } }> {
  if (run.taskId !== null) {
    const task = await db.query.tasks.findFirst({ where: eq(tasks.id, run.taskId), columns: { permissionPolicy: true } });
    if (task?.permissionPolicy) return { policy: policyOf(task.permissionPolicy), source: { taskId: run.taskId } };
  }
  const channel = await db.query.channels.findFirst({ where: eq(channels.id, run.channelId), columns: { permissionPolicy: true, parentId: true } });
  if (!channel?.permissionPolicy && channel?.parentId) {
    const parent = await db.query.channels.findFirst({ where: eq(channels.id, channel.parentId), columns: { permissionPolicy: true } });
    if (parent?.permissionPolicy) return { policy: policyOf(parent.permissionPolicy), source: { channelId: channel.parentId } };
  }
  return { policy: policyOf(channel?.permissionPolicy), source: { channelId: run.channelId } };
}

/**
 * What the Job carries: null when the policy changes nothing (mode auto, no deny rules), so
 * such runs start exactly as before. The channel row the lease already read saves a D1 read.
 */
export async function policyForRun(db: Db, run: Pick<RunRow, "taskId" | "channelId">, channel: Pick<ChannelRow, "permissionPolicy" | "parentId">): Promise<PermissionPolicy | null> {
  const policy = run.taskId === null && (channel.permissionPolicy || !channel.parentId) ? policyOf(channel.permissionPolicy) : (await effectivePolicy(db, run)).policy;
  return policy.mode === "auto" && policy.deny.length === 0 ? null : policy;
}

/** PUT /api/channels/:id/policy, MCP set_policy, /loop policy: replaces the channel's policy. */
export async function setChannelPolicy(ctx: DomainContext, ref: string | ChannelRow, policy: PermissionPolicy): Promise<Channel> {
  assertMayGovern(ctx.actor, "change a permission policy");
  const channel = typeof ref === "string" ? await loadChannel(ctx, ref) : ref;
  const [row] = await ctx.db
    .update(channels)
    .set({ permissionPolicy: policy, updatedAt: Date.now() })
    .where(eq(channels.id, channel.id))
    .returning();
  return channelView(row!);
}

/**
 * Adds an allow rule where the run's policy lives (Always allow). One conditional write per
 * attempt: the JSON is rewritten only if nobody changed it meanwhile, so a concurrent policy
 * edit is never overwritten with a stale copy.
 */
export async function addAllowRule(db: Db, run: Pick<RunRow, "taskId" | "channelId">, rule: string): Promise<void> {
  for (let tries = 0; tries < 5; tries++) {
    const { source } = await effectivePolicy(db, run);
    const table = "taskId" in source ? tasks : channels;
    const idMatch: SQL = "taskId" in source ? eq(tasks.id, source.taskId) : eq(channels.id, source.channelId);
    const [row] = await db.select({ stored: table.permissionPolicy }).from(table).where(idMatch);
    const policy = policyOf(row?.stored);
    if (policy.allow.includes(rule)) return;
    const next: PermissionPolicy = { ...policy, allow: [...policy.allow, rule] };
    const unchanged = row?.stored == null ? isNull(table.permissionPolicy) : sql`${table.permissionPolicy} = ${JSON.stringify(row.stored)}`;
    const done = await db
      .update(table)
      .set({ permissionPolicy: next, updatedAt: Date.now() })
      .where(and(idMatch, unchanged))
      .returning({ updatedAt: table.updatedAt });
    if (done.length) return;
  }
  throw new Error(`could not add rule ${rule}: the policy kept changing`);
}

