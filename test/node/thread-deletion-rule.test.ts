// What the sweep does with a thread deletion after one call to Discord (auto_delete_sec,
// core/domain/thread-deletions.ts afterDeleteCall): done, retried later, or given up.
import { describe, expect, it } from "vitest";
import { afterDeleteCall, THREAD_DELETE_MAX_ATTEMPTS, THREAD_DELETE_RETRY_CAP_MS, THREAD_DELETE_RETRY_MS } from "../../core/domain/thread-deletion-rule.ts";

const NOW = 1_800_000_000_000;
const failed = (status: number, extra: { code?: number | null; retryAfterMs?: number | null } = {}) => ({ ok: false as const, status, code: null, retryAfterMs: null, ...extra });

describe("after a thread deletion call", () => {
  it("a success is done; a 404 or Unknown Channel means it is gone already, also done", () => {
    expect(afterDeleteCall({ ok: true }, 0, NOW)).toEqual({ kind: "done", gone: false });
    expect(afterDeleteCall(failed(404, { code: 10003 }), 3, NOW)).toEqual({ kind: "done", gone: true });
    expect(afterDeleteCall(failed(404), 0, NOW)).toEqual({ kind: "done", gone: true });
  });

  it("a failure waits longer each time, up to the cap, then is given up", () => {
    const waits: number[] = [];
    for (let attempts = 0; attempts < THREAD_DELETE_MAX_ATTEMPTS - 1; attempts++) {
      const next = afterDeleteCall(failed(500), attempts, NOW);
      expect(next).toMatchObject({ kind: "retry", counts: true });
      waits.push((next as { at: number }).at - NOW);
    }
    expect(waits[0]).toBe(THREAD_DELETE_RETRY_MS);
    expect(waits[1]).toBe(2 * THREAD_DELETE_RETRY_MS);
    expect(waits.every((w, i) => i === 0 || w >= waits[i - 1]!)).toBe(true);
    expect(Math.max(...waits)).toBe(THREAD_DELETE_RETRY_CAP_MS);
    expect(afterDeleteCall(failed(403), THREAD_DELETE_MAX_ATTEMPTS - 1, NOW)).toEqual({ kind: "give_up" });
  });

  it("a 429 waits what Discord asked and does not count as an attempt; a network error is a failure", () => {
    expect(afterDeleteCall(failed(429, { retryAfterMs: 2_500 }), THREAD_DELETE_MAX_ATTEMPTS - 1, NOW)).toEqual({ kind: "retry", at: NOW + 2_500, counts: false });
    expect(afterDeleteCall(failed(0), 0, NOW)).toEqual({ kind: "retry", at: NOW + THREAD_DELETE_RETRY_MS, counts: true });
  });
});
