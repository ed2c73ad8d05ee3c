/**
 * The rules of a loop (docs/loops.md) as pure functions: what happens when an iteration
 * ends, when the next one is due, and whether the monitor command runs before it. The
 * effectful side (core/loops/iterations.ts, run by the channel's ChannelSession) reads
 * the rows, asks these functions and writes what they decide. Nothing here touches D1, a
 * Durable Object or the clock.
 */
import { MAX_LOOP_ITERATIONS, type LoopEndReason, type LoopStatus } from "../../protocol/api.ts";

/** Failed (or lost) iterations in a row that end a loop: a broken setup must not spin forever. */
export const MAX_FAILED_ITERATIONS_IN_ROW = 3;

export interface LoopFacts {
  status: LoopStatus;
  /** The newest iteration created so far. */
  iteration: number;
  maxIterations: number;
  everyMs: number;
  untilText: string | null;
  failuresInRow: number;
  /** The run whose agent called loop_done, and its summary. */
  doneRunId: number | null;
  summary: string | null;
}

export interface EndedIteration {
  runId: number;
  iteration: number;
  /** The run's final status; statuses other runs may grow (a budget skip) end the loop. */
  status: string;
  resultText: string | null;
  error: string | null;
  startedAt: number | null;
}

export type AfterIteration =
  /** The loop is no longer running (stopped meanwhile), or this is not its newest iteration. */
  | { kind: "ignore" }
  | { kind: "end"; status: Exclude<LoopStatus, "running">; reason: LoopEndReason; summary: string }
  /** Iteration `iteration` is due at `at` (now or later). */
  | { kind: "next"; iteration: number; at: number; failuresInRow: number };

/** The iteration limit a loop runs under: max_iterations, or the global cap when it is 0. */
export const iterationLimit = (maxIterations: number): number => (maxIterations > 0 ? Math.min(maxIterations, MAX_LOOP_ITERATIONS) : MAX_LOOP_ITERATIONS);

/** Whether an answer meets the loop's `until` text (case-insensitive substring). */
export const meetsUntil = (answer: string | null, until: string | null): boolean =>
  !!until && !!answer && answer.toLocaleLowerCase().includes(until.toLocaleLowerCase());

/**
 * What follows an iteration's end. In order: loop_done (whatever the run's status: the
 * agent said so), the `until` text in a succeeded answer, failures in a row, any other end
 * of the run (cancelled, or a status such as a budget skip), then the iteration limit.
 * Otherwise the next iteration is due `every` after this one's start (start to start, like
 * an interval task), or now if that has passed; never earlier than now.
 */
export function afterIteration(loop: LoopFacts, ended: EndedIteration, now: number): AfterIteration {
  if (loop.status !== "running" || ended.iteration !== loop.iteration) return { kind: "ignore" };
  if (loop.doneRunId === ended.runId) {
    return { kind: "end", status: "done", reason: "loop_done", summary: loop.summary ?? "" };
  }
  if (ended.status === "succeeded" && meetsUntil(ended.resultText, loop.untilText)) {
    return { kind: "end", status: "done", reason: "until", summary: `iteration ${ended.iteration}'s answer contains "${loop.untilText}"` };
  }
  let failuresInRow = 0;
  if (ended.status === "failed" || ended.status === "lost") {
    failuresInRow = loop.failuresInRow + 1;
    if (failuresInRow >= MAX_FAILED_ITERATIONS_IN_ROW) {
      return { kind: "end", status: "failed", reason: "iteration_failed", summary: `${failuresInRow} iterations in a row failed; the last: ${ended.error ?? ended.status}` };
    }
  } else if (ended.status !== "succeeded") {
    const why = ended.error ? `: ${ended.error}` : "";
    return { kind: "end", status: "stopped", reason: "iteration_ended", summary: `iteration ${ended.iteration} ended as ${ended.status}${why}` };
  }
  const limit = iterationLimit(loop.maxIterations);
  if (ended.iteration >= limit) {
    return { kind: "end", status: "done", reason: "max_iterations", summary: `ran ${limit} iteration${limit === 1 ? "" : "s"}${loop.maxIterations > 0 ? " (max_iterations)" : " (the most a loop may run)"}` };
  }
  const at = loop.everyMs > 0 ? Math.max(now, (ended.startedAt ?? now) + loop.everyMs) : now;
  return { kind: "next", iteration: ended.iteration + 1, at, failuresInRow };
}

/** Whether the monitor command runs before this iteration (else the latest output is reused). */
export function monitorDue(loop: { monitorCommand: string | null; monitorEveryMs: number }, lastMonitorAt: number | null, now: number): boolean {
  if (!loop.monitorCommand) return false;
  return loop.monitorEveryMs <= 0 || lastMonitorAt === null || now - lastMonitorAt >= loop.monitorEveryMs;
}
