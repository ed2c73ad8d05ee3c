/**
 * Cost and tokens per UTC day, channel and model, summed from runs (the dashboard's Usage
 * page). A run counts on the day it was created. This reads runs directly until a usage
 * ledger exists; runs_channel_created keeps it to the visible channels' rows.
 */
import { and, count, gte, inArray, sql } from "drizzle-orm";
import type { Usage } from "../../protocol/dashboard.ts";
import { channels, runs } from "../db/schema.ts";
import { visibleChannels } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { startOfUtcDay } from "./overview.ts";

export async function usageFromRuns(ctx: DomainContext, days: number, now = Date.now()): Promise<Usage> {
  const from = startOfUtcDay(now) - (days - 1) * 86_400_000;
  const visible = visibleChannels(ctx.actor);
  const day = sql<string>`strftime('%Y-%m-%d', ${runs.createdAt} / 1000, 'unixepoch')`;
  const [rows, names] = await Promise.all([
    ctx.db
      .select({
        day,
        channel_id: runs.channelId,
        model: runs.model,
        runs: count(),
        input_tokens: sql<number>`coalesce(sum(${runs.inputTokens}), 0)`,
        output_tokens: sql<number>`coalesce(sum(${runs.outputTokens}), 0)`,
        cost_usd: sql<number>`coalesce(sum(${runs.costUsd}), 0)`,
      })
      .from(runs)
      .where(and(gte(runs.createdAt, from), visible ? inArray(runs.channelId, visible) : undefined))
      .groupBy(day, runs.channelId, runs.model)
      .orderBy(day),
    ctx.db
      .select({ id: channels.id, name: channels.name })
      .from(channels)
      .where(visible ? inArray(channels.id, visible) : undefined),
  ]);
  return {
    source: "runs",
    from: new Date(from).toISOString(),
    days,
    rows: rows.map((r) => ({ ...r, input_tokens: Number(r.input_tokens), output_tokens: Number(r.output_tokens), cost_usd: Number(r.cost_usd) })),
    channels: Object.fromEntries(names.map((c) => [c.id, c.name])),
  };
}
