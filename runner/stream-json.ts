/**
 * `claude --print --output-format stream-json --verbose`, one line at a time, turned into
 * the protocol's RunEventData plus what the completion needs. Shapes as the real CLI
 * prints them (test/fixtures/stream-json): one `assistant` event per content block, API
 * errors as an assistant event with model "<synthetic>" and a top-level `error`, tool
 * results inside `user` events, and a final `result` whose `is_error` (not `subtype`)
 * says whether the run failed. Anything else, including non-JSON lines, is skipped.
 */
import type { RunEventData } from "../protocol/runner.ts";

/** Longest line kept (bytes): the CLI never needs more; a runaway line is dropped whole. */
export const MAX_LINE_BYTES = 1024 * 1024;
export const MAX_TEXT_CHARS = 32_000;
export const MAX_TOOL_INPUT_CHARS = 2_000;
export const MAX_TOOL_OUTPUT_CHARS = 4_000;

export interface ModelUsage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface ResultInfo {
  isError: boolean;
  subtype: string | null;
  text: string | null;
  sessionId: string | null;
  costUsd: number | null;
  /** This invocation's tokens (cache reads and writes count as input). */
  usage: { input_tokens: number; output_tokens: number } | null;
  /** Per model; on --resume the CLI reports these cumulatively for the whole session. */
  modelUsage: Record<string, ModelUsage>;
  durationMs: number | null;
  errors: string[];
  terminalReason: string | null;
  /** The CLI's num_turns; null when it did not say. */
  numTurns: number | null;
  /** Tool uses seen in this invocation's stream (the parser counts them). */
  toolUses: number;
  /** The call a PreToolUse hook deferred (terminal_reason "tool_deferred"), as the CLI reports it. */
  deferredToolUse: { id: string; name: string; input: Record<string, unknown> } | null;
}

/** Cuts long text to `max` characters and says how much was left out. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : 0);
const str = (v: unknown): string | null => (typeof v === "string" ? v : null);
const isObject = (v: unknown): v is Record<string, any> => typeof v === "object" && v !== null && !Array.isArray(v);

function toolOutput(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content == null ? "" : JSON.stringify(content);
  return content
    .map((b) => {
      if (!isObject(b)) return "";
      if (b.type === "text") return String(b.text ?? "");
      if (b.type === "tool_reference") return `[tool ${b.tool_name ?? "?"}]`;
      return `[${b.type ?? "block"}]`;
    })
    .join("\n");
}

function parseResult(e: Record<string, any>): ResultInfo {
  const u = isObject(e.usage) ? e.usage : null;
  const modelUsage: Record<string, ModelUsage> = {};
  if (isObject(e.modelUsage))
    for (const [model, m] of Object.entries(e.modelUsage))
      if (isObject(m))
        modelUsage[model] = {
          inputTokens: num(m.inputTokens) + num(m.cacheReadInputTokens) + num(m.cacheCreationInputTokens),
          outputTokens: num(m.outputTokens),
          costUsd: num(m.costUSD),
        };
  return {
    isError: e.is_error === true,
    subtype: str(e.subtype),
    text: str(e.result),
    sessionId: str(e.session_id),
    costUsd: typeof e.total_cost_usd === "number" ? num(e.total_cost_usd) : null,
    usage: u
      ? {
          input_tokens: Math.round(num(u.input_tokens) + num(u.cache_creation_input_tokens) + num(u.cache_read_input_tokens)),
          output_tokens: Math.round(num(u.output_tokens)),
        }
      : null,
    modelUsage,
    durationMs: typeof e.duration_ms === "number" ? Math.round(num(e.duration_ms)) : null,
    errors: Array.isArray(e.errors) ? e.errors.filter((x: unknown): x is string => typeof x === "string") : [],
    terminalReason: str(e.terminal_reason),
    numTurns: typeof e.num_turns === "number" ? Math.round(num(e.num_turns)) : null,
    toolUses: 0,
    deferredToolUse:
      isObject(e.deferred_tool_use) && typeof e.deferred_tool_use.id === "string" && typeof e.deferred_tool_use.name === "string"
        ? { id: e.deferred_tool_use.id, name: e.deferred_tool_use.name, input: isObject(e.deferred_tool_use.input) ? e.deferred_tool_use.input : {} }
        : null,
  };
}

export class StreamJsonParser {
  sessionId: string | null = null;
  /** The main model: from init, else from the first real assistant message. */
  model: string | null = null;
  result: ResultInfo | null = null;
  /** Lines that were not JSON objects (the CLI's stray prints). */
  skippedLines = 0;
  /** Tool uses the model made (the watchdog's "did it do anything"). */
  toolUses = 0;

  /** Events for one stdout line (often none). */
  line(text: string): RunEventData[] {
    const trimmed = text.trim();
    if (!trimmed) return [];
    let e: unknown;
    try {
      e = JSON.parse(trimmed);
    } catch {
      this.skippedLines++;
      return [];
    }
    if (!isObject(e)) {
      this.skippedLines++;
      return [];
    }
    switch (e.type) {
      case "system":
        return this.#system(e);
      case "assistant":
        return this.#assistant(e);
      case "user":
        return this.#user(e);
      case "result":
        this.result = { ...parseResult(e), toolUses: this.toolUses };
        this.sessionId = this.result.sessionId ?? this.sessionId;
        return [];
      default:
        return [];
    }
  }

  #system(e: Record<string, any>): RunEventData[] {
    if (e.subtype === "init") {
      this.sessionId = str(e.session_id) ?? this.sessionId;
      this.model = str(e.model) ?? this.model;
      const tools = Array.isArray(e.tools) ? e.tools.filter((t: unknown): t is string => typeof t === "string") : [];
      const events: RunEventData[] = [{ type: "init", session_id: str(e.session_id), model: str(e.model), tools }];
      for (const s of Array.isArray(e.mcp_servers) ? e.mcp_servers : [])
        if (isObject(s) && s.status !== "connected") events.push({ type: "notice", message: `MCP server "${s.name}" is ${s.status ?? "unavailable"}` });
      return events;
    }
    if (e.subtype === "api_retry") {
      const status = e.error_status ? `${e.error_status} ` : "";
      const delay = typeof e.retry_delay_ms === "number" ? ` in ${(e.retry_delay_ms / 1000).toFixed(1)} s` : "";
      return [{ type: "notice", message: `Claude API error (${status}${e.error ?? "unknown"}); retry ${e.attempt ?? "?"} of ${e.max_retries ?? "?"}${delay}` }];
    }
    return [];
  }

  #assistant(e: Record<string, any>): RunEventData[] {
    const message = isObject(e.message) ? e.message : {};
    const blocks: unknown[] = Array.isArray(message.content) ? message.content : [];
    const model = str(message.model);
    if (model === "<synthetic>" || e.error) {
      // Not the model speaking: the CLI reporting an API failure in the model's place.
      const text = blocks.map((b) => (isObject(b) && b.type === "text" ? String(b.text ?? "") : "")).join(" ").trim();
      return [{ type: "notice", message: truncate(`Claude API error (${e.error ?? "unknown"}): ${text}`, MAX_TEXT_CHARS) }];
    }
    if (model && !this.model) this.model = model;
    const events: RunEventData[] = [];
    for (const b of blocks) {
      if (!isObject(b)) continue;
      if (b.type === "text" && typeof b.text === "string" && b.text.length) events.push({ type: "text", text: truncate(b.text, MAX_TEXT_CHARS) });
      else if (b.type === "tool_use" && ++this.toolUses)
        events.push({ type: "tool_use", id: String(b.id ?? ""), name: String(b.name ?? "?"), input: truncate(JSON.stringify(b.input ?? {}), MAX_TOOL_INPUT_CHARS) });
    }
    return events;
  }

  #user(e: Record<string, any>): RunEventData[] {
    const content = isObject(e.message) ? e.message.content : undefined;
    if (!Array.isArray(content)) return [];
    const events: RunEventData[] = [];
    for (const b of content)
      if (isObject(b) && b.type === "tool_result")
        events.push({
          type: "tool_result",
          tool_use_id: String(b.tool_use_id ?? ""),
          is_error: b.is_error === true,
          output: truncate(toolOutput(b.content), MAX_TOOL_OUTPUT_CHARS),
        });
    return events;
  }
}
