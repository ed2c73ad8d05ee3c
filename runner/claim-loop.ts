/**
 * Asks the Worker for work while a slot is free: a long-poll claim (the Worker parks it up
 * to MAX_CLAIM_WAIT_MS, 90 s, and answers the moment a job is ready; no pause between claims,
 * since a job arriving during a pause would wait for it), at most `concurrency` jobs at once.
 * Errors back off exponentially with jitter; a rejected runner token ends the loop, since
 * no retry can fix it. Returns when the signal aborts; running jobs are the caller's.
 */
import { MAX_CLAIM_WAIT_MS, type Job } from "../protocol/runner.ts";
import { Backoff, sleep } from "./backoff.ts";
import { errorText, type Logger } from "./log.ts";
import { UserError } from "./user-error.ts";
import { WorkerError, type WorkerClient } from "./worker-client.ts";

export interface ClaimLoopOptions {
  client: Pick<WorkerClient, "claim">;
  concurrency: number;
  log: Logger;
  signal: AbortSignal;
  start: (job: Job) => Promise<unknown>;
  waitMs?: number;
  backoff?: Backoff;
}

export async function claimLoop(o: ClaimLoopOptions): Promise<void> {
  const active = new Set<Promise<unknown>>();
  const backoff = o.backoff ?? new Backoff({ initialMs: 1_000, maxMs: 30_000 });
  const aborted = new Promise<void>((r) => o.signal.addEventListener("abort", () => r(), { once: true }));
  let said = "";
  const say = (line: string) => {
    // One line per change of state, not one per poll.
    if (line !== said) o.log.human(line);
    said = line;
  };

  while (!o.signal.aborted) {
    if (active.size >= o.concurrency) {
      say(`all ${o.concurrency} slot${o.concurrency === 1 ? "" : "s"} busy: waiting for a run to finish`);
      await Promise.race([...active, aborted]);
      continue;
    }
    // During an outage the retry lines say it all.
    if (!backoff.failures) say(active.size ? `waiting for jobs (long-poll; ${active.size} of ${o.concurrency} slots busy)` : "waiting for jobs (long-poll)");
    let job: Job | null;
    try {
      job = await o.client.claim(o.waitMs ?? MAX_CLAIM_WAIT_MS, o.signal);
    } catch (err) {
      if (o.signal.aborted) break;
      if (err instanceof WorkerError && err.kind === "auth")
        throw new UserError(`the Worker rejected runner_token (${err.status}): register this runner with POST /api/runners and put the token it returns in the config`);
      const delay = backoff.next();
      const what = err instanceof WorkerError && err.kind === "unreachable" ? "worker unreachable" : "claim failed";
      o.log.warn(`${what}; retrying`, { retry_ms: delay, failures: backoff.failures, error: errorText(err) });
      say(`${what}, retrying in ${Math.max(1, Math.round(delay / 1000))} s (${errorText(err)})`);
      await sleep(delay, o.signal);
      continue;
    }
    if (backoff.failures) {
      o.log.info("worker reachable again", { failures: backoff.failures });
      o.log.human("worker reachable again");
      backoff.reset();
    }
    if (!job) continue;
    o.log.debug("claimed", { run_id: job.run_id, lease_id: job.lease_id });
    const running: Promise<unknown> = o
      .start(job)
      .catch((err) => o.log.error("job crashed", { run_id: job.run_id, error: errorText(err) }))
      .finally(() => active.delete(running));
    active.add(running);
    said = "";
  }
}
