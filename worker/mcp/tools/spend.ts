/**
 * Spend tools (issue 14): the usage ledger and budgets. Same domain functions and schemas as
 * GET /api/usage and GET/PUT /api/channels/:id/budget, /api/budget, so scoping, the 0–1e6
 * range and "null removes a cap" hold the same way. The global budget is an admin's; an
 * agent's own run token may read its channel's budget but never change it.
 */
import { z } from "zod";
import { Budget, PutBudget, UsageQuery, UsageReport, type CapStatus, type UsageFigures } from "../../../protocol/spend.ts";
import { money } from "../../../core/domain/budget-rule.ts";
import { getChannelBudget, getGlobalBudget, setChannelBudget, setGlobalBudget } from "../../../core/domain/budget-store.ts";
import { usageReport } from "../../../core/domain/usage.ts";
import { invalid } from "../../../core/errors.ts";
import { parseWith } from "../../http/validate.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";
import { TaskId } from "./tasks.ts";

/** The summary line lists at most this many groups; structuredContent has them all. */
const SUMMARY_GROUPS = 10;

const Global = z.boolean().default(false).describe("true: the global caps, which apply to every channel (admin token only) instead of a channel's.");

export const figuresText = (f: UsageFigures): string =>
  `${money(f.cost_usd)} over ${f.runs} run${f.runs === 1 ? "" : "s"}${f.skipped_budget ? ` (+${f.skipped_budget} skipped over budget)` : ""}, ${f.input_tokens} in / ${f.output_tokens} out tokens`;

function usageText(r: UsageReport): string {
  const head = `Usage ${r.from} → ${r.to}: ${figuresText(r.total)}.`;
  if (!r.group_by || !r.groups.length) return head;
  const shown = r.groups.slice(0, SUMMARY_GROUPS).map((g) => `${g.key ?? "(none)"}: ${figuresText(g)}`);
  const more = r.groups.length > SUMMARY_GROUPS ? [`… ${r.groups.length - SUMMARY_GROUPS} more ${r.group_by} groups`] : [];
  return [head, `By ${r.group_by}:`, ...shown, ...more].join("\n");
}

const capText = (what: string, cap: number | null, status: CapStatus | null): string =>
  cap === null ? `${what}: no cap` : `${what}: ${money(status?.spent_usd ?? 0)} spent of ${money(cap)}`;

const budgetText = (b: Budget): string =>
  `${b.scope === "global" ? "Global budget" : `Budget of channel ${b.scope}`} (UTC periods): ${capText("today", b.daily_usd, b.daily)}; ${capText("this month", b.monthly_usd, b.monthly)}.`;

export const spendTools: LoopTool[] = [
  defineTool(
    "get_usage",
    {
      title: "Usage and cost",
      description:
        "What runs cost: tokens, cost in USD and run counts over [from, to), optionally grouped by day, channel, task or model. Runs count when they finished. Without channel_id or dir_path it covers the connection's channel (Loop-Channel header) if it has one, else every channel the token can see.",
      inputSchema: {
        ...ChannelArgs,
        from: UsageQuery.shape.from.describe("Inclusive start: an RFC 3339 time, or a date (midnight in tz). Default: 30 days before `to`."),
        to: UsageQuery.shape.to.describe("Exclusive end: an RFC 3339 time, or a date (midnight in tz). Default: now."),
        task_id: TaskId.optional().describe("Only runs of this task."),
        group_by: UsageQuery.shape.group_by.describe("day, channel, task or model; omit for totals only."),
        tz: UsageQuery.shape.tz.describe('IANA time zone for day groups and date-only bounds, e.g. "Europe/Berlin" (default UTC).'),
      },
      outputSchema: UsageReport.shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx, scope }, { channel_id, dir_path, ...query }) => {
      // The usual channel resolution, except that naming none means every visible channel
      // rather than an error; a task names its channel itself.
      const channel =
        channel_id || dir_path ? await targetChannel(ctx, scope, { channel_id, dir_path }) : query.task_id === undefined ? scope.defaultChannelId : undefined;
      const report = await usageReport(ctx, parseWith(UsageQuery, { ...query, ...(channel ? { channel_id: channel } : {}) }, "arguments"));
      return structured(usageText(report), report);
    },
  ),

  defineTool(
    "get_budget",
    {
      title: "Get the budget",
      description: "The channel's daily and monthly USD caps with what each period (UTC day, UTC month) has spent so far; global: true for the global caps (admin token).",
      inputSchema: { ...ChannelArgs, global: Global },
      outputSchema: Budget.shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx, scope }, { global, ...args }) => {
      if (global && (args.channel_id || args.dir_path)) throw invalid("give global: true or a channel, not both.", "global");
      const budget = global ? await getGlobalBudget(ctx) : await getChannelBudget(ctx, await targetChannel(ctx, scope, args));
      return structured(budgetText(budget), budget);
    },
  ),

  defineTool(
    "set_budget",
    {
      title: "Set the budget",
      description:
        "Set the channel's daily and/or monthly cap in USD (0 to 1,000,000; null removes that cap; a cap left out stays as it is). A run that would start once its period's spend has reached a cap is skipped (status skipped_budget). Runs already running are not touched. global: true sets the global caps (admin token). A run's own token cannot change budgets.",
      inputSchema: { ...ChannelArgs, global: Global, daily_usd: PutBudget.shape.daily_usd, monthly_usd: PutBudget.shape.monthly_usd },
      outputSchema: Budget.shape,
    },
    async ({ ctx, scope }, { global, channel_id, dir_path, ...caps }) => {
      if (global && (channel_id || dir_path)) throw invalid("give global: true or a channel, not both.", "global");
      const patch = parseWith(PutBudget, caps, "arguments");
      const budget = global ? await setGlobalBudget(ctx, patch) : await setChannelBudget(ctx, await targetChannel(ctx, scope, { channel_id, dir_path }), patch);
      return structured(`Saved. ${budgetText(budget)}`, budget);
    },
  ),
];
