/**
 * What a loop's live Discord message says (docs/loops.md): the iteration counter, the
 * state, the head of the last answer and, while it runs, a Stop button. Pure.
 */
import type { APIActionRowComponent, APIButtonComponent } from "discord-api-types/v10";
import { Button, Component } from "../../protocol/discord-constants.ts";
import { LOOP_STOP_BUTTON_PREFIX } from "../../protocol/discord-commands.ts";
import type { LoopRow, RunRow } from "../db/schema.ts";
import { formatDuration, inlineCode } from "./format.ts";
import { cut, cutLine } from "../text.ts";
import { MESSAGE_CONTENT_LIMIT } from "../../protocol/discord-constants.ts";
import type { MessageBody } from "./render.ts";

/** How much of the last answer the message shows. */
export const LOOP_ANSWER_HEAD_CHARS = 600;

export function loopStopButton(loopId: number): APIActionRowComponent<APIButtonComponent> {
  return {
    type: Component.ActionRow,
    components: [{ type: Component.Button, style: Button.Danger, label: "Stop loop", emoji: { name: "⏹️" }, custom_id: `${LOOP_STOP_BUTTON_PREFIX}${loopId}` }],
  };
}

const ENDED: Record<Exclude<LoopRow["status"], "running">, string> = { done: "✅ Done", stopped: "⏹️ Stopped", failed: "❌ Failed" };

/** `current` is the newest iteration's run, `answered` the newest one with an answer. */
export function renderLoop(loop: LoopRow, current: RunRow | null, answered: RunRow | null, now: number): MessageBody {
  const of = loop.maxIterations > 0 ? `/${loop.maxIterations}` : "";
  const lines: string[] = [];
  if (loop.status === "running") {
    const state =
      current && current.status === "running"
        ? "⏳ working"
        : loop.nextAt !== null && loop.nextAt > now
          ? `🕐 next in ${formatDuration(loop.nextAt - now)}`
          : "🕐 queued";
    lines.push(`🔁 **Loop #${loop.id}** · iteration ${loop.iteration}${of} · ${state}`);
  } else {
    lines.push(`🔁 **Loop #${loop.id}** · ${ENDED[loop.status]} after ${loop.iteration} iteration${loop.iteration === 1 ? "" : "s"}`);
    if (loop.summary) lines.push(`-# ${loop.endReason ?? ""}: ${cutLine(loop.summary, 300)}`);
  }
  lines.push(`> ${cutLine(loop.prompt, 180)}`);
  if (loop.monitorCommand) lines.push(`-# monitor: ${inlineCode(cutLine(loop.monitorCommand, 120))}`);
  if (answered?.resultText) lines.push(`**Iteration ${answered.iteration}:** ${cutLine(answered.resultText.trim(), LOOP_ANSWER_HEAD_CHARS)}`);
  else if (answered?.error) lines.push(`**Iteration ${answered.iteration}:** ⚠️ ${cutLine(answered.error, 300)}`);
  const content = lines.join("\n");
  return {
    content: cut(content, MESSAGE_CONTENT_LIMIT),
    components: loop.status === "running" ? [loopStopButton(loop.id)] : [],
    allowed_mentions: { parse: [] },
  };
}
