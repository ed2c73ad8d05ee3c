/**
 * What the sweep does with a thread deletion (auto_delete_sec) after one call to Discord:
 * done, tried again later, or given up. Pure, so it is tested without Discord or D1;
 * thread-deletions.ts carries it out.
 */
import { DiscordErrorCode, type RestResult } from "../discord/rest.ts";

/** Threads one sweep deletes at most (one Discord call each; the rest wait a minute). */
export const THREAD_DELETE_BATCH = 25;
/** Failed deletions are tried this many times in all, then given up (and logged). */
export const THREAD_DELETE_MAX_ATTEMPTS = 10;
/** The wait after the first failure; it doubles with each one, up to the cap. */
export const THREAD_DELETE_RETRY_MS = 60_000;
export const THREAD_DELETE_RETRY_CAP_MS = 3_600_000;

/** What to do with a deletion after one call to Discord. Pure: tested without Discord. */
export type DeletionNext = { kind: "done"; gone: boolean } | { kind: "retry"; at: number; counts: boolean } | { kind: "give_up" };

export function afterDeleteCall(result: Pick<RestResult<unknown>, "ok"> & { status?: number; code?: number | null; retryAfterMs?: number | null }, attempts: number, now: number): DeletionNext {
  if (result.ok) return { kind: "done", gone: false };
  // Deleted by someone else, or never there: nothing left to do.
  if (result.status === 404 || result.code === DiscordErrorCode.UnknownChannel) return { kind: "done", gone: true };
  // Discord asked us to wait: not the thread's fault, so it does not count as an attempt.
  if (result.status === 429) return { kind: "retry", at: now + (result.retryAfterMs ?? THREAD_DELETE_RETRY_MS), counts: false };
  if (attempts + 1 >= THREAD_DELETE_MAX_ATTEMPTS) return { kind: "give_up" };
  return { kind: "retry", at: now + Math.min(THREAD_DELETE_RETRY_MS * 2 ** attempts, THREAD_DELETE_RETRY_CAP_MS), counts: true };
}
