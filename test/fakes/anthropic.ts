// A fake Anthropic Messages API for driving the real Claude Code CLI in tests.
//
//   const fake = await startFakeAnthropic({
//     rules: [
//       { match: (r) => isMainTurn(r) && !hasToolResult(r),
//         reply: { toolUses: [{ name: "Bash", input: { command: "echo hi > /w/f" } }] } },
//       { match: isMainTurn, reply: { text: "done" } },
//     ],
//   });
//   // ANTHROPIC_BASE_URL=fake.url ... ; then inspect fake.requests
//   await fake.close();
//
// Listens on 127.0.0.1 only. POST /v1/messages is answered as SSE when the
// body says `stream: true`, as one JSON message otherwise. Rules are tried in
// order; the first whose `match` returns true (and has uses left) answers.
// Requests matching no rule get `script.fallback` (default: a short text),
// which covers the CLI's side requests (titles, summaries, quota probes).
// Every request, on any path, is recorded in `requests`.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ToolUse {
  name: string;
  input: Record<string, unknown>;
  /** Defaults to a generated `toolu_...` id. */
  id?: string;
}

export interface Turn {
  text?: string;
  toolUses?: ToolUse[];
  /** Default: "tool_use" when toolUses is non-empty, else "end_turn". */
  stopReason?: "end_turn" | "tool_use" | "max_tokens" | "stop_sequence";
  usage?: { input_tokens?: number; output_tokens?: number };
  /** Milliseconds to wait before each SSE delta (text is sent word by word). */
  delayMs?: number;
  /** Never answer: the request is held open with nothing written (a hung API, for the watchdog). */
  hang?: boolean;
  /** Answer with an HTTP error instead of a message, e.g. { status: 400, type: "invalid_request_error" }. */
  error?: { status: number; type: string; message?: string };
}

export interface Rule {
  match: (req: RecordedRequest) => boolean;
  reply: Turn | ((req: RecordedRequest) => Turn);
  /** How many times this rule may answer; unlimited when absent. */
  times?: number;
}

export interface FakeScript {
  rules?: Rule[];
  /** Reply for /v1/messages requests that match no rule. */
  fallback?: Turn;
  /** Told about requests to paths the fake does not know (they get a 404). */
  log?: (line: string) => void;
}

export interface RecordedRequest {
  method: string;
  /** Path including the query string, e.g. "/v1/messages?beta=true". */
  path: string;
  /** Lower-cased headers; x-api-key and authorization are replaced by "<redacted>". */
  headers: Record<string, string>;
  /** Value of x-api-key, if sent. */
  apiKey?: string;
  /** Bearer token from the Authorization header, if sent. */
  bearer?: string;
  /** Parsed JSON body (undefined if none or not JSON). */
  body?: any;
  // Shortcuts into body for POST /v1/messages:
  model?: string;
  stream?: boolean;
  messages?: Message[];
  system?: unknown;
  /** Names of the tools offered, e.g. ["Bash", ..., "mcp__loop__schedule_task"]. */
  toolNames: string[];
}

export interface Message {
  /** The CLI also sends a "system" role message (environment, deferred tool list). */
  role: "user" | "assistant" | "system";
  content: string | Array<{ type: string; [k: string]: any }>;
}

export interface FakeAnthropic {
  /** Base URL for ANTHROPIC_BASE_URL, e.g. "http://127.0.0.1:41234". */
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** POST /v1/messages requests only. */
  messageRequests(): RecordedRequest[];
  close(): Promise<void>;
}

// ---------- predicates for rules ----------

/** The agent's own turn: the CLI offers tools (side requests such as title generation offer none). */
export const isMainTurn = (r: RecordedRequest): boolean => r.path.startsWith("/v1/messages") && r.toolNames.length > 0;

function lastUser(r: RecordedRequest): Message | undefined {
  const msgs = r.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i]!.role === "user") return msgs[i];
  return undefined;
}

/** True when the newest user message carries a tool_result (the CLI is reporting a tool's output). */
export function hasToolResult(r: RecordedRequest): boolean {
  const last = lastUser(r);
  return !!last && Array.isArray(last.content) && last.content.some((b) => b.type === "tool_result");
}

/** All text in the newest user message (string or text blocks, tool results excluded). */
export function lastUserText(r: RecordedRequest): string {
  const last = lastUser(r);
  if (!last) return "";
  if (typeof last.content === "string") return last.content;
  return last.content
    .filter((b) => b.type === "text")
    .map((b) => b.text as string)
    .join("\n");
}

/** Every text block / string content in the conversation, joined — for "did the model see X" assertions. */
export function conversationText(r: RecordedRequest): string {
  const parts: string[] = [];
  for (const m of r.messages ?? []) {
    if (typeof m.content === "string") parts.push(m.content);
    else
      for (const b of m.content) {
        if (b.type === "text") parts.push(b.text);
        else if (b.type === "tool_use") parts.push(JSON.stringify(b.input));
        else if (b.type === "tool_result")
          parts.push(typeof b.content === "string" ? b.content : JSON.stringify(b.content));
      }
  }
  return parts.join("\n");
}

// ---------- server ----------

let idCounter = 0;
const newId = (prefix: string) => `${prefix}_fake${Date.now().toString(36)}${(idCounter++).toString(36)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startFakeAnthropic(script: FakeScript | Rule[] = {}): Promise<FakeAnthropic> {
  const { rules = [], fallback = { text: "OK" }, log } = Array.isArray(script) ? ({ rules: script } as FakeScript) : script;
  const uses = new Map<Rule, number>();
  const requests: RecordedRequest[] = [];

  function choose(req: RecordedRequest): Turn {
    for (const rule of rules) {
      const used = uses.get(rule) ?? 0;
      if (rule.times !== undefined && used >= rule.times) continue;
      if (!rule.match(req)) continue;
      uses.set(rule, used + 1);
      return typeof rule.reply === "function" ? rule.reply(req) : rule.reply;
    }
    return fallback;
  }

  const server = createServer(async (req, res) => {
    try {
      const rec = await record(req);
      requests.push(rec);
      const path = rec.path.split("?")[0];
      if (req.method === "POST" && path === "/v1/messages") {
        const turn = choose(rec);
        if (turn.error) return sendError(res, turn.error);
        if (turn.hang) return new Promise<void>((resolve) => res.on("close", () => resolve()));
        if (rec.stream) await streamTurn(res, rec.model, turn);
        else sendJson(res, 200, messageJson(rec.model, turn));
      } else if (req.method === "POST" && path === "/v1/messages/count_tokens") {
        sendJson(res, 200, { input_tokens: Math.ceil(JSON.stringify(rec.body ?? "").length / 4) });
      } else if (path === "/api/hello") {
        // Connectivity probe (HEAD) the CLI sends unless CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1.
        res.writeHead(200, { "content-type": "application/json" }).end(req.method === "HEAD" ? undefined : "{}");
      } else {
        log?.(`fake-anthropic: unhandled ${req.method} ${rec.path}`);
        // Unknown endpoint: a 404 in the API's error shape. The CLI treats its
        // optional endpoints (metrics, quotas, ...) as best-effort.
        sendError(res, { status: 404, type: "not_found_error", message: `fake: no route ${req.method} ${path}` });
      }
    } catch (err) {
      if (!res.headersSent) sendError(res, { status: 500, type: "api_error", message: String(err) });
      else res.destroy();
    }
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    messageRequests: () => requests.filter((r) => r.method === "POST" && r.path.split("?")[0] === "/v1/messages"),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function record(req: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const raw = Buffer.concat(chunks).toString("utf8");
  let body: any;
  try {
    body = raw ? JSON.parse(raw) : undefined;
  } catch {
    body = undefined;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    headers[k] = k === "x-api-key" || k === "authorization" ? "<redacted>" : String(v);
  }
  const auth = req.headers.authorization;
  return {
    method: req.method ?? "GET",
    path: req.url ?? "/",
    headers,
    apiKey: req.headers["x-api-key"] as string | undefined,
    bearer: auth?.startsWith("Bearer ") ? auth.slice(7) : undefined,
    body,
    model: body?.model,
    stream: body?.stream === true,
    messages: body?.messages,
    system: body?.system,
    toolNames: Array.isArray(body?.tools) ? body.tools.map((t: any) => t.name) : [],
  };
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  const data = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: ServerResponse, e: NonNullable<Turn["error"]>) {
  sendJson(res, e.status, { type: "error", error: { type: e.type, message: e.message ?? e.type } });
}

function blocksOf(turn: Turn) {
  const blocks: Array<{ type: "text"; text: string } | { type: "tool_use"; id: string; name: string; input: any }> = [];
  if (turn.text !== undefined) blocks.push({ type: "text", text: turn.text });
  for (const t of turn.toolUses ?? []) blocks.push({ type: "tool_use", id: t.id ?? newId("toolu"), name: t.name, input: t.input });
  if (blocks.length === 0) blocks.push({ type: "text", text: "" });
  return blocks;
}

function usageOf(turn: Turn) {
  return {
    input_tokens: turn.usage?.input_tokens ?? 10,
    output_tokens: turn.usage?.output_tokens ?? 5,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
}

const stopReasonOf = (turn: Turn) => turn.stopReason ?? (turn.toolUses?.length ? "tool_use" : "end_turn");

function messageJson(model: string | undefined, turn: Turn) {
  return {
    id: newId("msg"),
    type: "message",
    role: "assistant",
    model: model ?? "claude-fake",
    content: blocksOf(turn),
    stop_reason: stopReasonOf(turn),
    stop_sequence: null,
    usage: usageOf(turn),
  };
}

async function streamTurn(res: ServerResponse, model: string | undefined, turn: Turn) {
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
  let closed = false;
  res.on("close", () => (closed = true));
  const send = async (event: string, data: unknown, delay = 0) => {
    if (delay) await sleep(delay);
    if (closed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const delay = turn.delayMs ?? 0;
  const usage = usageOf(turn);
  const msg = messageJson(model, turn);
  await send("message_start", {
    type: "message_start",
    message: { ...msg, content: [], stop_reason: null, usage: { ...usage, output_tokens: 1 } },
  });
  await send("ping", { type: "ping" });
  for (const [index, block] of msg.content.entries()) {
    if (block.type === "text") {
      await send("content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      // Word-sized deltas so a slow reply can be interrupted midway.
      for (const piece of block.text.match(/\S+\s*|\s+/g) ?? [])
        await send("content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: piece } }, delay);
    } else {
      await send("content_block_start", {
        type: "content_block_start",
        index,
        content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
      });
      await send(
        "content_block_delta",
        { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) } },
        delay,
      );
    }
    await send("content_block_stop", { type: "content_block_stop", index });
  }
  await send("message_delta", {
    type: "message_delta",
    delta: { stop_reason: msg.stop_reason, stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  await send("message_stop", { type: "message_stop" });
  if (!closed) res.end();
}
