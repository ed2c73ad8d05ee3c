/**
 * A loop's one live Discord message (docs/loops.md) as a plain record, and the pure rules
 * that move it: the loop changed (an iteration started or ended, the loop ended) → show
 * the newest state, at most one call per EDIT_INTERVAL_MS, backing off on failures and
 * 429s. The pump (loop-message.ts) stores the record and renders the content from D1 at
 * call time, so a coalesced edit always shows the newest state. No storage, Discord or clock.
 */
import { nextCallAt, type RestResult } from "./rest.ts";
import { EDIT_INTERVAL_MS, MAX_FAILURES } from "./live-state.ts";

export interface LoopLiveRecord {
  loopId: number;
  /** The Discord channel the message lives in. */
  channelId: string;
  messageId: string | null;
  /** Bumped by every change of the loop; `shown` is the version Discord last showed. */
  version: number;
  shown: number;
  /** The loop has ended: once its final state is shown, the record is done. */
  ended: boolean;
  /** The run last seen working in the channel, so its start changes the message once. */
  activeRunId?: number | null;
  notBefore: number;
  lastCallAt: number;
  failures: number;
  wakeAt: number | null;
}

export function newLoopRecord(loopId: number, channelId: string, now: number): LoopLiveRecord {
  return { loopId, channelId, messageId: null, version: 1, shown: 0, ended: false, notBefore: now, lastCallAt: 0, failures: 0, wakeAt: null };
}

/** The loop changed; `ended` once it is over. */
export function touch(rec: LoopLiveRecord, ended: boolean): void {
  rec.version += 1;
  rec.ended = rec.ended || ended;
}

export type LoopPlan = { show: { version: number; edit: boolean } } | { wait: number } | { idle: true } | { done: true };

export function planLoop(rec: LoopLiveRecord, now: number): LoopPlan {
  if (rec.shown >= rec.version) return rec.ended ? { done: true } : { idle: true };
  const at = Math.max(rec.notBefore, rec.messageId ? rec.lastCallAt + EDIT_INTERVAL_MS : 0);
  if (now < at) return { wait: at };
  return { show: { version: rec.version, edit: rec.messageId !== null } };
}

/** Applies a call's answer; true when the record is finished with (final state shown, or given up). */
export function applyLoopResult(rec: LoopLiveRecord, version: number, result: RestResult<{ id: string }>, now: number): boolean {
  rec.lastCallAt = now;
  rec.notBefore = nextCallAt(result, now);
  if (!result.ok) {
    if (result.status === 429) return false;
    if (rec.messageId && result.status === 404) {
      rec.messageId = null; // deleted: post it again
      return false;
    }
    rec.failures += 1;
    rec.notBefore = Math.max(rec.notBefore, now + Math.min(30_000, 1_000 * 2 ** (rec.failures - 1)));
    return rec.failures >= MAX_FAILURES;
  }
  rec.failures = 0;
  rec.messageId ??= result.data.id;
  rec.shown = Math.max(rec.shown, version);
  return rec.ended && rec.shown >= rec.version;
}

export function loopWakeTime(rec: LoopLiveRecord, now: number): number | null {
  const p = planLoop(rec, now);
  if ("wait" in p) return p.wait;
  if ("show" in p || "done" in p) return now;
  return null;
}
