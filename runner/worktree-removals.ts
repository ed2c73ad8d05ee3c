/**
 * Worktrees of deleted tasks: the Worker keeps one row per runner that ran a worktree task
 * after the task is deleted (core/domain/worktrees.ts). This runner asks for its rows when
 * it starts, whenever a claim's answer says some wait (WORKTREE_REMOVALS_HEADER: an idle
 * runner hears of them within one claim wait), and every WORKTREE_REMOVAL_POLL_MS besides,
 * for a runner too busy to be answered 204. It removes each worktree and acknowledges it; an
 * acknowledgement lost on the way only means the (idempotent) removal runs again. No polling
 * beyond that: each ask is a Worker request against the free tier's daily budget (issue 15).
 */
import { sleep } from "./backoff.ts";
import { errorText, type Logger } from "./log.ts";
import type { WorkerClient } from "./worker-client.ts";
import { removeWorktree, type GitRunner } from "./worktree.ts";

/** The fallback poll, for a runner whose claims are all answered with jobs. */
export const WORKTREE_REMOVAL_POLL_MS = 3_600_000;

/** A wake-up that is not lost when nobody waits yet: the next wait returns at once. */
export class Nudge {
  #pending = false;
  #wake: (() => void) | null = null;

  poke(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Resolves after ms, on a poke, or when the signal aborts. */
  async wait(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.#pending) await Promise.race([sleep(ms, signal), new Promise<void>((r) => (this.#wake = r))]);
    this.#wake = null;
    this.#pending = false;
  }
}

/** One pass: removes what the Worker lists, acknowledges it; returns how many were handled. */
export async function removeDeletedWorktrees(client: Pick<WorkerClient, "worktreeRemovals" | "worktreesRemoved">, git: GitRunner, log: Logger, signal?: AbortSignal): Promise<number> {
  let handled = 0;
  for (;;) {
    const { removals } = await client.worktreeRemovals(signal);
    if (!removals.length) return handled;
    const done: number[] = [];
    for (const r of removals) {
      try {
        const outcome = await removeWorktree(r.dir_path, r.task_id, git);
        log.info("worktree of a deleted task removed", { task_id: r.task_id, dir: r.dir_path, outcome });
        if (outcome === "removed") log.human(`removed the worktree of deleted task #${r.task_id} in ${r.dir_path}`);
        done.push(r.task_id);
      } catch (err) {
        log.warn("could not remove a deleted task's worktree; will retry", { task_id: r.task_id, dir: r.dir_path, error: errorText(err) });
      }
    }
    if (!done.length) return handled;
    await client.worktreesRemoved(done, signal);
    handled += done.length;
  }
}

/** Polls until the signal aborts; failures are logged and retried at the next poll. */
export async function worktreeRemovalLoop(o: {
  client: Pick<WorkerClient, "worktreeRemovals" | "worktreesRemoved">;
  git: GitRunner;
  log: Logger;
  signal: AbortSignal;
  intervalMs?: number;
  nudge?: Nudge;
}): Promise<void> {
  const nudge = o.nudge ?? new Nudge();
  while (!o.signal.aborted) {
    try {
      await removeDeletedWorktrees(o.client, o.git, o.log, o.signal);
    } catch (err) {
      if (o.signal.aborted) return;
      o.log.debug("worktree removals: could not ask the Worker; trying again later", { error: errorText(err) });
    }
    await nudge.wait(o.intervalMs ?? WORKTREE_REMOVAL_POLL_MS, o.signal);
  }
}
