/**
 * What a run's Discord message says: while it works, a compact list of its tool uses and a
 * Stop button; when it ends, the answer split into messages (chunk.ts) with a footer of
 * duration, tool calls, tokens, cost and model, or the reason it failed. Pure.
 */
import type { APIActionRowComponent, APIButtonComponent } from "discord-api-types/v10";
import { Button, Component, MESSAGE_CONTENT_LIMIT } from "../../protocol/discord-constants.ts";
import { APPROVAL_BUTTON_PREFIX, STOP_BUTTON_PREFIX } from "../../protocol/discord-commands.ts";
import type { RunRow } from "../db/schema.ts";
import type { CapFigure } from "../domain/budget-rule.ts";
import { chunkMessage, withFooter } from "./chunk.ts";
import { codeBlock, formatCost, formatDuration, formatInt, inlineCode, RUN_MARKS, waitingForApproval } from "./format.ts";
import type { LiveRecord } from "./live-state.ts";
import { cut, cutLine } from "../text.ts";

export interface MessageBody {
  content: string;
  components: APIActionRowComponent<APIButtonComponent>[];
  /** The agent's words must never ping @everyone or anyone else. */
  allowed_mentions: { parse: [] };
}

/** More messages than this for one answer would flood the channel; the rest is in the API. */
export const MAX_FINAL_MESSAGES = 10;

export function stopButton(runId: number): APIActionRowComponent<APIButtonComponent> {
  return {
    type: Component.ActionRow,
    components: [{ type: Component.Button, style: Button.Danger, label: "Stop", emoji: { name: "⏹️" }, custom_id: `${STOP_BUTTON_PREFIX}${runId}` }],
  };
}

const body = (content: string, components: MessageBody["components"] = []): MessageBody => ({
  content: cut(content, MESSAGE_CONTENT_LIMIT),
  components,
  allowed_mentions: { parse: [] },
});

const capitalised = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

function liveText(rec: LiveRecord, now: number): string {
  const lines: string[] = [];
  const w = rec.waiting;
  const status = w
    ? `✋ ${capitalised(waitingForApproval(w.name, w.since ? new Date(w.since).toISOString() : null, w.expiresAt ?? null))} · no container is held meanwhile`
    : rec.running
      ? `⏳ Working… ${formatDuration(now - (rec.startedAt ?? rec.attachedAt))}`
      : "🕐 Waiting for a runner…";
  lines.push(`**Run #${rec.runId}** · ${status}`);
  // An interaction shows the command and its prompt itself; a bot message does not.
  if (rec.target.kind !== "interaction") lines.push(`> ${cutLine(rec.prompt, 180)}`);
  const earlier = rec.toolCount - rec.tools.length;
  if (earlier > 0) lines.push(`-# … ${formatInt(earlier)} earlier tool call${earlier === 1 ? "" : "s"}`);
  for (const t of rec.tools) {
    const mark = t.result === "ok" ? " ✓" : t.result === "error" ? " ✗" : "";
    lines.push(`🔧 **${cutLine(t.name, 40)}** ${inlineCode(t.detail)}${mark}`.trimEnd());
  }
  if (rec.lastText) lines.push(`💬 ${cutLine(rec.lastText, 200)}`);
  if (rec.notice) lines.push(`ℹ️ ${cutLine(rec.notice, 200)}`);
  return lines.join("\n");
}

/** The buttons on a waiting run's message; each names the run and the deferral it answers. */
export function approvalButtons(runId: number, deferral: number): APIActionRowComponent<APIButtonComponent> {
  const id = (choice: string) => `${APPROVAL_BUTTON_PREFIX}${runId}:${deferral}:${choice}`;
  return {
    type: Component.ActionRow,
    components: [
      { type: Component.Button, style: Button.Success, label: "Approve", emoji: { name: "✅" }, custom_id: id("approve") },
      { type: Component.Button, style: Button.Danger, label: "Deny", emoji: { name: "⛔" }, custom_id: id("deny") },
      { type: Component.Button, style: Button.Secondary, label: "Always allow", emoji: { name: "♾️" }, custom_id: id("always") },
    ],
  };
}

/** Longest tool input shown on a waiting run's message (the message must stay under 2,000). */
const MAX_HELD_INPUT_CHARS = 900;

/** The held call as a person reads it: Bash's command as it is, other inputs as indented JSON. */
export function heldCallText(name: string, input: string): string {
  let shown = input;
  try {
    const value = JSON.parse(input) as Record<string, unknown>;
    shown = name === "Bash" && typeof value.command === "string" ? value.command : JSON.stringify(value, null, 2);
  } catch {
    // Not JSON (cut by the runner): show it as it is.
  }
  return codeBlock(shown, MAX_HELD_INPUT_CHARS);
}

export function renderLive(rec: LiveRecord, now: number): MessageBody {
  if (rec.waiting) {
    const w = rec.waiting;
    const text = `${liveText(rec, now)}\n✋ ${inlineCode(cutLine(w.name, 80))} wants to run:\n${heldCallText(w.name, w.input)}`;
    return body(text, [approvalButtons(rec.runId, w.deferral), stopButton(rec.runId)]);
  }
  return body(liveText(rec, now), [stopButton(rec.runId)]);
}

/**
 * The original response's last words before the run moves to a channel message (its token
 * ends at 15 minutes). A waiting run is not working: it says where its buttons went.
 */
export function renderHandoff(rec: LiveRecord, now: number): MessageBody {
  const note = rec.waiting ? "⏩ Still waiting after 14 minutes; the buttons moved to a new message below." : "⏩ Still working after 14 minutes; continued in a new message below.";
  return body(`${liveText(rec, now)}\n-# ${note}`);
}

const HEADS: Partial<Record<RunRow["status"], string>> = {
  failed: "❌ **Run failed**",
  lost: "⚠️ **Runner lost**",
  cancelled: "⏹️ **Stopped**",
  skipped_budget: "💸 **Not started: over budget**",
};

/** The day's spend against a daily cap, for the footer; absent when no daily cap is set. */
export interface FooterSpend {
  cap: CapFigure | null;
}

export function footer(run: RunRow, toolCount: number, model: string | null, spend?: FooterSpend): string {
  const parts = [`${RUN_MARKS[run.status]} run #${run.id}`];
  const start = run.startedAt ?? run.createdAt;
  if (run.finishedAt) parts.push(formatDuration(run.finishedAt - start));
  if (toolCount) parts.push(`${formatInt(toolCount)} tool call${toolCount === 1 ? "" : "s"}`);
  if (run.inputTokens !== null || run.outputTokens !== null) {
    parts.push(`${formatInt(run.inputTokens ?? 0)} in / ${formatInt(run.outputTokens ?? 0)} out tokens`);
  }
  if (run.costUsd !== null) parts.push(formatCost(run.costUsd));
  const m = run.model ?? model;
  if (m) parts.push(m);
  const cap = spend?.cap;
  if (cap) parts.push(`today ${formatCost(cap.spentUsd)} of ${formatCost(cap.capUsd)}${cap.scope === "global" ? " (global cap)" : ""}`);
  return `-# ${parts.join(" · ")}`;
}

/** The final messages of a run, in order; the first replaces the live message. */
export function renderFinal(run: RunRow, live: { toolCount: number; model: string | null }, spend?: FooterSpend): string[] {
  const head = HEADS[run.status];
  const reason = run.error?.trim();
  const headLine = head ? `${head}${reason ? `: ${cutLine(reason, 1500)}` : ""}` : "";
  const answer = run.resultText?.trim() || (run.status === "succeeded" ? "*(The agent finished without a text answer.)*" : "");
  const text = [headLine, answer].filter(Boolean).join("\n\n");
  let chunks = chunkMessage(text);
  if (chunks.length > MAX_FINAL_MESSAGES) {
    chunks = chunks.slice(0, MAX_FINAL_MESSAGES);
    chunks.push(`-# … the answer continues; read it all with \`GET /api/runs/${run.id}\`.`);
  }
  return withFooter(chunks, footer(run, live.toolCount, live.model, spend));
}

export const finalBody = (content: string): MessageBody => body(content);
