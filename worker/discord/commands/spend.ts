/**
 * /loop usage and /loop budget (issue 14). Both answer in the interaction's own response
 * (no deferral) from one D1 statement each: usage from `channelSpend`, the budget from the
 * same start check the channel's queue makes before a run starts, so what Discord shows is
 * exactly what the queue will decide on. A thread shows and sets its parent channel's.
 */
import { SPEND_WINDOWS, type PutBudget, type SpendWindow } from "../../../protocol/spend.ts";
import { type CapFigure, type CapPeriod, type CapScope } from "../../../core/domain/budget-rule.ts";
import { readStartCheck, saveChannelBudget } from "../../../core/domain/budget-store.ts";
import { channelSpend, type ChannelSpend, type TaskSpend, type WindowFigures } from "../../../core/domain/channel-spend.ts";
import { AppError } from "../../../core/errors.ts";
import { cutLine } from "../../../core/text.ts";
import { ownersOnly } from "../access.ts";
import { formatCost, formatInt, inlineCode } from "../../../core/discord/format.ts";
import { ephemeral, message } from "../reply.ts";
import type { CommandSpec } from "./types.ts";

/** How many tasks /loop usage lists; the REST ledger (group_by=task) has them all. */
export const TOP_TASKS = 5;

const WINDOW_WORDS: Record<SpendWindow, string> = { today: "Today", "7d": "7 days", "30d": "30 days" };

const tokens = (n: number): string => (n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)}M` : n >= 10_000 ? `${Math.round(n / 1000)}k` : formatInt(n));

function figures(f: WindowFigures): string {
  if (!f.runs && !f.skipped) return "nothing ran";
  const skipped = f.skipped ? ` · 💸 ${f.skipped} skipped over budget` : "";
  return `**${formatCost(f.costUsd)}** · ${f.runs} run${f.runs === 1 ? "" : "s"} · ${tokens(f.inputTokens)} in / ${tokens(f.outputTokens)} out tokens${skipped}`;
}

const taskName = (t: TaskSpend): string =>
  t.taskId === null ? "no task (asks, loops, MCP and API runs)" : `${inlineCode(`#${t.taskId}`)} ${t.prompt === null ? "(deleted)" : cutLine(t.prompt, 60)}`;

/** The text of /loop usage: every window (or one), then the window's costliest tasks. Pure. */
export function usageText(spend: ChannelSpend, channelId: string, period?: SpendWindow): string {
  const shown = period ? [period] : SPEND_WINDOWS;
  const ranked = period ?? "30d";
  const lines = [`**Usage** · channel ${inlineCode(channelId)} · UTC days`];
  for (const w of shown) lines.push(`${WINDOW_WORDS[w]}: ${figures(spend.total[w])}`);
  const top = spend.tasks
    .filter((t) => t.windows[ranked].runs || t.windows[ranked].skipped)
    .sort((a, b) => b.windows[ranked].costUsd - a.windows[ranked].costUsd || b.windows[ranked].runs - a.windows[ranked].runs)
    .slice(0, TOP_TASKS);
  if (top.length) {
    lines.push(`**Top tasks** (${WINDOW_WORDS[ranked].toLowerCase()})`);
    top.forEach((t, i) => lines.push(`${i + 1}. ${formatCost(t.windows[ranked].costUsd)} · ${t.windows[ranked].runs} run${t.windows[ranked].runs === 1 ? "" : "s"} — ${taskName(t)}`));
  }
  lines.push("-# `/loop budget` shows the caps; `GET /api/usage` and MCP `get_usage` give any period, by day, task or model.");
  return lines.join("\n");
}

export const usage: CommandSpec<"usage"> = {
  owners: null,
  async run({ access, options }) {
    const channelId = access.channel.parentId ?? access.channel.id;
    const spend = await channelSpend(access.ctx.env.DB, channelId, Date.now());
    return ephemeral(usageText(spend, channelId, options.period));
  },
};

const PERIOD_WORDS: Record<CapPeriod, string> = { daily: "today", monthly: "this month" };

function capLine(caps: CapFigure[], scope: CapScope, period: CapPeriod): string {
  const cap = caps.find((c) => c.scope === scope && c.period === period);
  const label = `${period === "daily" ? "Daily" : "Monthly"}`;
  if (!cap) return `${label}: no cap`;
  const pct = cap.capUsd > 0 ? ` (${Math.floor((cap.spentUsd / cap.capUsd) * 100)} %)` : "";
  const over = cap.spentUsd >= cap.capUsd ? " · 💸 used up: runs are skipped" : "";
  return `${label}: ${formatCost(cap.spentUsd)} spent ${PERIOD_WORDS[period]} of **${formatCost(cap.capUsd)}**${pct}${over}`;
}

/** The text of /loop budget with no options: the channel's caps, and the global ones if set. Pure. */
export function budgetText(caps: CapFigure[], channelId: string): string {
  const lines = [`**Budget** · channel ${inlineCode(channelId)} · UTC day and month`, capLine(caps, "channel", "daily"), capLine(caps, "channel", "monthly")];
  if (caps.some((c) => c.scope === "global")) lines.push("**Global caps** (every channel's runs count)", capLine(caps, "global", "daily"), capLine(caps, "global", "monthly"));
  lines.push("-# A run that would start once a cap is used up is skipped. Owners: `/loop budget daily_usd: 5`, `clear: daily` removes a cap.");
  return lines.join("\n");
}

/** The change the options ask for, as PUT /api/channels/:id/budget takes it; null: just show. */
export function budgetPatch(options: { daily_usd?: number | null | undefined; monthly_usd?: number | null | undefined; clear?: "daily" | "monthly" | "both" | undefined }): PutBudget | null {
  const patch: PutBudget = {};
  if (options.daily_usd != null) patch.daily_usd = options.daily_usd;
  if (options.monthly_usd != null) patch.monthly_usd = options.monthly_usd;
  for (const field of ["daily_usd", "monthly_usd"] as const) {
    if (options.clear !== "both" && options.clear !== field.slice(0, -4)) continue;
    if (patch[field] !== undefined) throw new AppError(422, "invalid_request", `clear: ${field} cannot be set and cleared at once`, "clear");
    patch[field] = null;
  }
  return Object.keys(patch).length ? patch : null;
}

export const budget: CommandSpec<"budget"> = {
  // Anyone may look; changing it is checked below, once we know whether anything changes.
  owners: null,
  async run({ access, options }) {
    const channelId = access.channel.parentId ?? access.channel.id;
    const patch = budgetPatch(options);
    if (patch && !access.isOwner) return ephemeral(ownersOnly(access, "change the budget"));
    if (patch) await saveChannelBudget(access.ctx, { id: channelId }, patch);
    const check = await readStartCheck(access.ctx.env.DB, channelId, Date.now());
    const text = budgetText(check?.spend.caps ?? [], channelId);
    return patch ? message(`💸 Budget changed by <@${access.userId}>\n${text}`) : ephemeral(text);
  },
};
