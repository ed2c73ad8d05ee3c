/**
 * A run's live Discord message as a plain record, and the pure rules that move it: which
 * events change it, which REST call comes next, and what a call's answer does to it. The
 * pump (durable-objects/live-messages.ts) stores the record in the ChannelSession's storage and performs the
 * calls; nothing here touches storage, Discord or the clock.
 *
 * One message per run: the interaction's @original for /loop ask (a channel message once
 * the 15-minute interaction token is about to expire), or a message the bot posts (in a
 * new thread for scheduled runs). Edits are coalesced: at most one per EDIT_INTERVAL_MS,
 * always showing the newest state, and the final state is never skipped.
 */
import type { WireEvent } from "../../protocol/runner.ts";
import { cutLine } from "../text.ts";
import { DiscordErrorCode, nextCallAt, type RestResult } from "./rest.ts";

/** Discord allows about 5 message edits per 5 s per channel; one a second and a half leaves room. */
export const EDIT_INTERVAL_MS = 1_500;
/** The first edit waits this long, so Discord has registered the deferred response it edits. */
export const FIRST_EDIT_DELAY_MS = 750;
/** Interaction tokens are valid for 15 minutes (docs: "Interactions › Receiving and Responding"). */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60_000;
/** Move to a channel message this long before the token expires. */
export const HANDOFF_MARGIN_MS = 60_000;
/** Consecutive failed calls (not 429s) before the message is given up. */
export const MAX_FAILURES = 6;
/** Tool uses listed on the live message; older ones are counted, not shown. */
export const MAX_TOOLS_SHOWN = 8;

export type Target =
  /** /loop ask: edit the interaction's deferred response. */
  | { kind: "interaction"; appId: string; token: string; channelId: string; expiresAt: number }
  /**
   * Post a new message in this channel (a scheduled run in a thread channel); with
   * replyTo, as a reply to that message (a message relayed from the Gateway).
   */
  | { kind: "channel"; channelId: string; replyTo?: string }
  /** Start a thread named `name` in `parentId`, and post there (scheduled runs). */
  | { kind: "thread"; parentId: string; name: string };

export interface ToolLine {
  seq: number;
  id: string;
  name: string;
  detail: string;
  result: "ok" | "error" | null;
}

export interface LiveRecord {
  runId: number;
  target: Target;
  /** The Discord user who asked, for "asked by"; null for scheduled runs. */
  userId: string | null;
  prompt: string;
  attachedAt: number;
  /** The live message is the interaction's @original (until the hand-off). */
  onOriginal: boolean;
  /** Where channel messages go (a thread's id once created); null until known. */
  channelId: string | null;
  /** The live channel message, once posted. */
  messageId: string | null;

  running: boolean;
  startedAt: number | null;
  tools: ToolLine[];
  toolCount: number;
  lastText: string | null;
  notice: string | null;
  model: string | null;
  lastSeq: number;
  /**
   * A call held for a person (approval_requested), until a decision event clears it. Absent
   * in records stored before approvals existed.
   */
  waiting?: HeldCall | null;
  /** Events that arrived while the stored backlog was being read; null once merged. */
  pending: WireEvent[] | null;

  /** Bumped by every visible change; `shown` is the version Discord last showed. */
  version: number;
  shown: number;
  final: { chunks: string[]; sent: number } | null;

  /** Earliest next REST call (rate limits, back-off). */
  notBefore: number;
  lastCallAt: number;
  failures: number;
  /** When the pump should next look at this record; null when there is nothing to do. */
  wakeAt: number | null;
}

/** The call a waiting run holds, as its message shows it. */
export interface HeldCall {
  deferral: number;
  name: string;
  input: string;
  /** When it was held (the event's time); absent in records stored before it was kept. */
  since?: number;
  /** When it will be denied with "no decision" (ISO 8601), if known. */
  expiresAt?: string | null;
}

export function newRecord(runId: number, target: Target, opts: { userId: string | null; prompt: string; now: number }): LiveRecord {
  return {
    runId,
    target,
    userId: opts.userId,
    prompt: opts.prompt,
    attachedAt: opts.now,
    onOriginal: target.kind === "interaction",
    channelId: target.kind === "thread" ? null : target.channelId,
    messageId: null,
    running: false,
    startedAt: null,
    tools: [],
    toolCount: 0,
    lastText: null,
    notice: null,
    model: null,
    lastSeq: 0,
    pending: [],
    version: 1,
    shown: 0,
    final: null,
    notBefore: target.kind === "interaction" ? opts.now + FIRST_EDIT_DELAY_MS : opts.now,
    lastCallAt: 0,
    failures: 0,
    wakeAt: null,
  };
}

// ---- events --------------------------------------------------------------------------

/** Applies new events (in seq order, each once) to the live view. */
export function applyEvents(rec: LiveRecord, events: WireEvent[], now: number): void {
  const fresh = events.filter((e) => e.seq > rec.lastSeq).sort((a, b) => a.seq - b.seq);
  for (const e of fresh) {
    if (e.seq <= rec.lastSeq) continue; // a duplicate inside one batch
    rec.lastSeq = e.seq;
    if (!rec.running) {
      rec.running = true;
      rec.startedAt = now;
    }
    const d = e.data;
    switch (d.type) {
      case "init":
        rec.model = d.model ?? rec.model;
        break;
      case "text":
        rec.lastText = lastLine(d.text) ?? rec.lastText;
        break;
      case "tool_use":
        rec.toolCount += 1;
        rec.tools.push({ seq: e.seq, id: d.id, name: d.name, detail: toolDetail(d.input), result: null });
        if (rec.tools.length > MAX_TOOLS_SHOWN) rec.tools.splice(0, rec.tools.length - MAX_TOOLS_SHOWN);
        break;
      case "tool_result": {
        const tool = rec.tools.find((t) => t.id === d.tool_use_id);
        if (tool) tool.result = d.is_error ? "error" : "ok";
        break;
      }
      case "notice":
        rec.notice = d.message.slice(0, 300);
        break;
      case "approval_requested":
        rec.waiting = { deferral: d.deferral, name: d.name, input: d.input, since: e.at, expiresAt: d.expires_at ?? null };
        break;
      case "approval_decided": {
        if (rec.waiting?.deferral === d.deferral) rec.waiting = null;
        const who = d.by.startsWith("discord:") ? `<@${d.by.slice("discord:".length)}>` : d.by === "expiry" ? "nobody in time" : d.by;
        const word = d.decision === "always_allow" ? `always allowed (${d.rule ?? "rule"})` : d.decision === "approve" ? "approved" : "denied";
        rec.notice = `${word} by ${who}${d.reason && d.decision === "deny" ? `: ${d.reason}` : ""}`.slice(0, 300);
        break;
      }
    }
  }
  if (fresh.length) rec.version += 1;
}

function lastLine(text: string): string | null {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  const line = lines[lines.length - 1];
  return line ? line.slice(0, 200) : null;
}

/** The one argument that says what a tool call does: a command, a path, a pattern, a URL. */
export function toolDetail(input: string): string {
  let value: unknown = input;
  try {
    value = JSON.parse(input);
  } catch {
    // Not JSON: show the text itself.
  }
  let detail = "";
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    const key = ["command", "file_path", "path", "pattern", "url", "query", "description", "prompt"].find((k) => typeof obj[k] === "string");
    const first = key ? obj[key] : Object.values(obj).find((v) => typeof v === "string");
    detail = typeof first === "string" ? first : "";
  } else if (typeof value === "string") {
    detail = value;
  }
  return cutLine(detail, 80);
}

// ---- the next call -------------------------------------------------------------------

export type Step =
  | { kind: "handoff" }
  | { kind: "thread"; name: string; parentId: string }
  /** Show `content` in the live message: edit it, or post it if there is none yet. */
  | { kind: "show"; part: "live" | "final"; version: number }
  /** Post final chunk `index` as a message of its own. */
  | { kind: "more"; index: number };

export type Plan = { step: Step } | { wait: number } | { idle: true } | { giveUp: string };

export function handoffAt(target: Target): number | null {
  return target.kind === "interaction" ? target.expiresAt - HANDOFF_MARGIN_MS : null;
}

/** What the pump should do next for this record at `now`. */
export function plan(rec: LiveRecord, now: number, hasBotToken: boolean): Plan {
  const handoff = rec.onOriginal ? handoffAt(rec.target) : null;
  if (handoff !== null && !hasBotToken && rec.target.kind === "interaction" && now >= rec.target.expiresAt) {
    return { giveUp: "the interaction token expired and DISCORD_BOT_TOKEN is not set, so the message cannot continue" };
  }
  const wantsHandoff = handoff !== null && hasBotToken;
  const hasWork = rec.final !== null || rec.version > rec.shown;
  if (!hasWork && !wantsHandoff) return { idle: true };
  if (!hasWork && now < handoff!) return { wait: handoff! };
  if (now < rec.notBefore) return { wait: rec.notBefore };
  if (wantsHandoff && now >= handoff!) return { step: { kind: "handoff" } };
  if (rec.target.kind === "thread" && rec.channelId === null) {
    return { step: { kind: "thread", name: rec.target.name, parentId: rec.target.parentId } };
  }
  if (rec.final) {
    if (rec.final.sent === 0) return { step: { kind: "show", part: "final", version: rec.version } };
    return { step: { kind: "more", index: rec.final.sent } };
  }
  // Coalescing: an edit of an existing message waits out the interval since the last call.
  const editing = rec.onOriginal ? rec.shown > 0 : rec.messageId !== null;
  const editAt = rec.lastCallAt + EDIT_INTERVAL_MS;
  if (editing && now < editAt) return { wait: editAt };
  return { step: { kind: "show", part: "live", version: rec.version } };
}

/** What a call's answer does to the record. Returns true when the record is finished with. */
export function applyResult(rec: LiveRecord, step: Step, result: RestResult<{ id: string }>, now: number, hasBotToken: boolean): boolean {
  rec.lastCallAt = now;
  rec.notBefore = nextCallAt(result, now);
  if (!result.ok && result.status === 429) return false; // the same step again, after retry_after

  // An invalid token ends the original for good. "Unknown webhook" can also mean Discord has
  // not yet registered the deferral, so early on it is only retried.
  const handoff = handoffAt(rec.target);
  const tokenDead =
    !result.ok &&
    rec.onOriginal &&
    (result.status === 401 || result.code === DiscordErrorCode.InvalidWebhookToken || (result.code === DiscordErrorCode.UnknownWebhook && handoff !== null && now >= handoff));
  if (step.kind === "handoff" || tokenDead) {
    // Whether or not the hand-off edit landed, the original can no longer be relied on.
    if (tokenDead && !hasBotToken) return true;
    rec.onOriginal = false;
    rec.messageId = null;
    rec.failures = 0;
    // The live view must be posted again as a channel message.
    if (!rec.final) rec.shown = Math.min(rec.shown, rec.version - 1);
    return false;
  }
  if (!result.ok) {
    if (step.kind === "show" && !rec.onOriginal && rec.messageId && result.code === DiscordErrorCode.UnknownMessage) {
      rec.messageId = null; // someone deleted it: post a new one
      return false;
    }
    rec.failures += 1;
    rec.notBefore = Math.max(rec.notBefore, now + Math.min(30_000, 1_000 * 2 ** (rec.failures - 1)));
    return rec.failures >= MAX_FAILURES;
  }

  rec.failures = 0;
  switch (step.kind) {
    case "thread":
      rec.channelId = result.data.id;
      return false;
    case "show":
      if (!rec.onOriginal && !rec.messageId) rec.messageId = result.data.id;
      if (step.part === "live") rec.shown = Math.max(rec.shown, step.version);
      else rec.final!.sent = 1;
      break;
    case "more":
      rec.final!.sent = step.index + 1;
      break;
  }
  return rec.final !== null && rec.final.sent >= rec.final.chunks.length;
}

/** When the pump should look at the record again, given what plan() says now. */
export function wakeTime(rec: LiveRecord, now: number, hasBotToken: boolean): number | null {
  const p = plan(rec, now, hasBotToken);
  if ("idle" in p) return null;
  if ("wait" in p) return p.wait;
  return now;
}
