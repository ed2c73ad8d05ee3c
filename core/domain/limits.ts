/**
 * Per-run limits (issue 14): max_turns, max_budget_usd and timeout_sec, set per channel and
 * overridable per task. The Job carries the resolved values; the runner applies its own
 * config as the ceiling. Reading and writing them for REST, MCP and Discord lives here.
 */
import { eq } from "drizzle-orm";
import type { RunLimits, SetRunLimits } from "../../protocol/spend.ts";
import { channels, tasks, type ChannelRow, type TaskRow } from "../db/schema.ts";
import { assertMayChangeBudget } from "./budget-store.ts";
import { loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { loadTask } from "./tasks.ts";

type LimitColumns = Pick<ChannelRow, "maxTurns" | "maxBudgetUsd" | "timeoutSec">;

export const limitsView = (row: LimitColumns): RunLimits => ({
  max_turns: row.maxTurns,
  max_budget_usd: row.maxBudgetUsd,
  timeout_sec: row.timeoutSec,
});

/** A task's own value wins; else the channel's; null leaves it to the runner's config. */
export function resolveLimits(channel: LimitColumns, task: LimitColumns | null): RunLimits {
  return {
    max_turns: task?.maxTurns ?? channel.maxTurns,
    max_budget_usd: task?.maxBudgetUsd ?? channel.maxBudgetUsd,
    timeout_sec: task?.timeoutSec ?? channel.timeoutSec,
  };
}

const columns = (patch: SetRunLimits): Partial<LimitColumns> => ({
  ...(patch.max_turns !== undefined ? { maxTurns: patch.max_turns } : {}),
  ...(patch.max_budget_usd !== undefined ? { maxBudgetUsd: patch.max_budget_usd } : {}),
  ...(patch.timeout_sec !== undefined ? { timeoutSec: patch.timeout_sec } : {}),
});

export async function getChannelLimits(ctx: DomainContext, channelId: string): Promise<RunLimits & { channel_id: string }> {
  const channel = await loadChannel(ctx, channelId);
  return { channel_id: channel.id, ...limitsView(channel) };
}

/** Changes the channel's limits; runs already running keep the limits they started with. */
export async function setChannelLimits(ctx: DomainContext, channelId: string, patch: SetRunLimits): Promise<RunLimits & { channel_id: string }> {
  assertMayChangeBudget(ctx.actor);
  const channel = await loadChannel(ctx, channelId);
  const [row] = await ctx.db
    .update(channels)
    .set({ ...columns(patch), updatedAt: Date.now() })
    .where(eq(channels.id, channel.id))
    .returning();
  return { channel_id: row!.id, ...limitsView(row!) };
}

export async function getTaskLimits(ctx: DomainContext, taskId: number): Promise<RunLimits & { task_id: number }> {
  const task = await loadTask(ctx, taskId);
  return { task_id: task.id, ...limitsView(task) };
}

export async function setTaskLimits(ctx: DomainContext, taskId: number, patch: SetRunLimits): Promise<RunLimits & { task_id: number }> {
  assertMayChangeBudget(ctx.actor);
  const task: TaskRow = await loadTask(ctx, taskId);
  const [row] = await ctx.db
    .update(tasks)
    .set({ ...columns(patch), updatedAt: Date.now() })
    .where(eq(tasks.id, task.id))
    .returning();
  return { task_id: row!.id, ...limitsView(row!) };
}
