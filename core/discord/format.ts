/** Small text helpers for Discord messages: durations, numbers, timestamps, escaping, run marks. */
import type { RunStatus } from "../../protocol/api.ts";
import { cutLine } from "../text.ts";

/** The mark each run status wears in Discord messages (footers, run lists). */
export const RUN_MARKS: Record<RunStatus, string> = { queued: "🕐", running: "⏳", waiting_approval: "✋", succeeded: "✅", failed: "❌", cancelled: "⏹️", lost: "⚠️", skipped_budget: "💸" };

/** "850ms", "12s", "3m 05s", "1h 02m". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export const formatInt = (n: number): string => n.toLocaleString("en-US");

export function formatCost(usd: number): string {
  return usd >= 1 ? `$${usd.toFixed(2)}` : `$${usd.toFixed(4)}`;
}

/** Discord renders <t:unix:R> as "in 5 minutes" in each reader's own locale and zone. */
export function discordTime(iso: string | null, style: "R" | "f" | "F" = "R"): string {
  if (!iso) return "—";
  return `<t:${Math.floor(Date.parse(iso) / 1000)}:${style}>`;
}

/**
 * "waiting for approval of `Bash` since <time>, expires <time>": how a held call is described
 * everywhere (the live message, /loop status). Times render in each reader's zone; unknown
 * ones are left out rather than shown as a dash.
 */
export function waitingForApproval(tool: string, since: string | null, expires: string | null): string {
  const parts = [`waiting for approval of ${inlineCode(cutLine(tool, 80))}`];
  if (since) parts.push(` since ${discordTime(since)}`);
  if (expires) parts.push(`${since ? "," : ""} expires ${discordTime(expires)}`);
  return parts.join("");
}

/** Text safe inside inline code: backticks would end it early. */
export function inlineCode(text: string): string {
  const clean = text.replace(/`/g, "ˋ");
  return clean ? `\`${clean}\`` : "";
}

/**
 * A fenced code block that cannot be broken out of: a ``` inside would end the fence early,
 * so it gets a zero-width space; long text is cut (before fencing) to `max` characters.
 */
export function codeBlock(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max - 1)}…` : text;
  return `\`\`\`\n${cut.replace(/```/g, "`\u200b``")}\n\`\`\``;
}

export const mention = (userId: string): string => `<@${userId}>`;
