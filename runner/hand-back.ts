/**
 * Gives a lease back to the Worker without a result (POST /runs/:id/abandon), so the run
 * is re-queued at once instead of after the lease TTL (issue 15). Used by a runner that
 * starts and finds its crashed predecessor's containers ("restart"), and by one that stops
 * before its runs could finish ("shutdown"). Retries while the Worker is unreachable, within
 * a window: past it the lease simply runs out, as it would have without this call.
 */
import type { AbandonReason } from "../protocol/runner.ts";
import { Backoff, sleep } from "./backoff.ts";
import { errorText, type Logger } from "./log.ts";
import { WorkerError, type WorkerClient } from "./worker-client.ts";

/** Long enough to ride out a blip; short, because a stopping runner should stop. */
export const HAND_BACK_WINDOW_MS = 10_000;

/** requeued/ended: the Worker took it back; gone: the lease was no longer ours (409); unsent: no answer. */
export type HandBackResult = { outcome: "requeued" | "ended"; attempt: number } | { outcome: "gone" | "unsent" };

export async function handBack(
  client: Pick<WorkerClient, "abandon">,
  lease: { runId: number; leaseId: string },
  reason: AbandonReason,
  log: Logger,
  windowMs = HAND_BACK_WINDOW_MS,
): Promise<HandBackResult> {
  const window = AbortSignal.timeout(windowMs);
  const backoff = new Backoff({ initialMs: 250, maxMs: 2_000 });
  const fields = { run_id: lease.runId, reason };
  for (;;) {
    try {
      const res = await client.abandon(lease.runId, lease.leaseId, reason, window);
      log.info("lease handed back", { ...fields, outcome: res.outcome, attempt: res.attempt });
      return res;
    } catch (err) {
      if (err instanceof WorkerError && err.kind === "lease_lost") {
        log.info("lease already gone; nothing to hand back", { ...fields, error: err.message });
        return { outcome: "gone" };
      }
      if (!(err instanceof WorkerError && err.retryable) || window.aborted) {
        log.warn("could not hand the lease back; it ends when its TTL runs out", { ...fields, error: errorText(err) });
        return { outcome: "unsent" };
      }
      await sleep(backoff.next(), window);
    }
  }
}
