/**
 * A run's transcript as the Run page shows it, built from its SSE events: pure, so the
 * rules (each seq once, results beside their calls, long output folded) are tested in Node.
 */
import type { RunEventData } from "../protocol/runner.ts";

export type Item =
  | { kind: "text"; seq: number; text: string }
  | { kind: "tool"; seq: number; id: string; name: string; input: string; result: { output: string; isError: boolean } | null; held?: boolean }
  | { kind: "result"; seq: number; toolUseId: string; output: string; isError: boolean }
  | { kind: "notice"; seq: number; message: string }
  | { kind: "init"; seq: number; model: string | null; sessionId: string | null };

export interface Transcript {
  items: Item[];
  /** The highest seq applied: EventSource resumes after it (Last-Event-ID), and repeats are dropped. */
  lastSeq: number;
}

export const emptyTranscript: Transcript = { items: [], lastSeq: 0 };

export function applyEvent(t: Transcript, seq: number, data: RunEventData): Transcript {
  if (seq <= t.lastSeq) return t;
  const items = [...t.items];
  switch (data.type) {
    case "text":
      items.push({ kind: "text", seq, text: data.text });
      break;
    case "tool_use":
      items.push({ kind: "tool", seq, id: data.id, name: data.name, input: data.input, result: null });
      break;
    case "tool_result": {
      const i = items.findIndex((it) => it.kind === "tool" && it.id === data.tool_use_id && it.result === null);
      const result = { output: data.output, isError: data.is_error };
      if (i >= 0) items[i] = { ...(items[i] as Extract<Item, { kind: "tool" }>), result };
      else items.push({ kind: "result", seq, toolUseId: data.tool_use_id, ...result });
      break;
    }
    case "notice":
      items.push({ kind: "notice", seq, message: data.message });
      break;
    case "init":
      items.push({ kind: "init", seq, model: data.model, sessionId: data.session_id });
      break;
    case "approval_requested":
      markHeld(items, data.tool_use_id, true);
      items.push({ kind: "notice", seq, message: `Held for approval: ${data.name} (deferral ${data.deferral}).` });
      break;
    case "approval_decided":
      markHeld(items, data.tool_use_id, false);
      items.push({ kind: "notice", seq, message: decisionText(data) });
      break;
  }
  return { items, lastSeq: seq };
}

/** The call a run stopped at is not running: it waits for a person. */
function markHeld(items: Item[], toolUseId: string, held: boolean): void {
  const i = items.findIndex((it) => it.kind === "tool" && it.id === toolUseId);
  if (i >= 0) items[i] = { ...(items[i] as Extract<Item, { kind: "tool" }>), held };
}

const DECIDED: Record<Extract<RunEventData, { type: "approval_decided" }>["decision"], string> = { approve: "Approved", deny: "Denied", always_allow: "Always allowed" };

function decisionText(d: Extract<RunEventData, { type: "approval_decided" }>): string {
  if (d.by === "expiry") return "Denied: nobody decided before the approval timeout.";
  return `${DECIDED[d.decision]} by ${d.by}${d.rule ? ` (rule ${d.rule} added)` : ""}${d.reason ? `: ${d.reason}` : ""}.`;
}

/** Output longer than this many lines or characters is folded behind a summary. */
export const FOLD_LINES = 12;
export const FOLD_CHARS = 1200;

export function fold(text: string): { head: string; folded: boolean; lines: number } {
  const lines = text.split("\n");
  if (lines.length <= FOLD_LINES && text.length <= FOLD_CHARS) return { head: text, folded: false, lines: lines.length };
  const head = lines.slice(0, FOLD_LINES).join("\n");
  return { head: head.length > FOLD_CHARS ? head.slice(0, FOLD_CHARS) : head, folded: true, lines: lines.length };
}
