/**
 * From what happened in the container to the Completion the Worker stores. Order of
 * precedence: a cancel, the deadline, the memory limit, then
 * the CLI's own result (is_error decides: a rejected key still says subtype "success"),
 * and last the exit code with the tail of stderr when the CLI printed no result at all.
 */
import type { CompletionInput } from "../protocol/runner.ts";
import type { AgentOutcome } from "./agent.ts";
import type { ResultInfo } from "./stream-json.ts";
import type { RunUsage } from "./usage-ledger.ts";

const MAX_RESULT_CHARS = 200_000;
const MAX_ERROR_CHARS = 10_000;

const cap = (s: string | null, max: number): string | null => (s === null ? null : s.length <= max ? s : `${s.slice(0, max - 20)}… [truncated]`);

export interface OutcomeInput {
  outcome: AgentOutcome;
  /** We stopped it because the run was cancelled. (A shutdown hands the lease back instead.) */
  cancelled: boolean;
  timeoutSec: number;
  /** The watchdog's silence limit, for its message. */
  stallTimeoutSec?: number;
  memoryMb: number;
  usage: RunUsage;
  durationMs: number;
}

export type Decision = Omit<CompletionInput, "lease_id">;

export function decide(i: OutcomeInput): Decision {
  const o = i.outcome;
  const r = o.result;
  const base = {
    result_text: cap(r?.text ?? null, MAX_RESULT_CHARS),
    session_id: o.sessionId,
    usage: i.usage.usage,
    cost_usd: i.usage.costUsd,
    exit_code: o.exitCode,
    model: o.model ?? (r ? Object.keys(r.modelUsage)[0] ?? null : null),
    duration_ms: Math.max(0, Math.round(i.durationMs)),
  };
  const fail = (error: string): Decision => ({ ...base, status: "failed", error: cap(error, MAX_ERROR_CHARS) });

  if (i.cancelled) return { ...base, status: "cancelled", error: "cancelled on request" };
  if (o.startError !== null) return fail(`could not start the agent container: ${o.startError}`);
  if (o.stalled) return fail(`no output for ${i.stallTimeoutSec ?? "?"} s: the watchdog stopped the agent (stall_timeout_sec)`);
  if (o.timedOut) return fail(`timed out after ${i.timeoutSec} s`);
  if (o.oomKilled) return fail(`out of memory: the container reached its ${i.memoryMb} MB limit (container_memory_mb)`);
  if (r) {
    // A call the permission hook held for a person: the run waits; nothing failed.
    if (!r.isError && r.terminalReason === "tool_deferred" && r.deferredToolUse)
      return { ...base, status: "deferred", error: null, deferred_tool_use: r.deferredToolUse };
    if (!r.isError) {
      // `claude -p` can exit 0 having done nothing (issue 14): that is not a success.
      const idle = didNothing(r);
      return idle ? fail(`the agent did nothing: ${idle}`) : { ...base, status: "succeeded", error: null };
    }
    const why = r.errors.length ? r.errors.join("; ") : r.text || `claude reported an error (${r.subtype ?? "no detail"})`;
    return fail(why);
  }
  const tail = o.stderrTail ? `: ${o.stderrTail}` : "";
  if (o.exitCode !== 0) return fail(`claude exited with code ${o.exitCode} without a result${tail}`);
  return fail(`claude exited without a result${tail}`);
}

/** Why a successful-looking result did nothing, or null when it did something. */
export function didNothing(r: Pick<ResultInfo, "numTurns" | "text" | "toolUses">): string | null {
  if (r.numTurns === 0) return "it ended after zero turns";
  if (!r.text?.trim() && r.toolUses === 0) return "it gave an empty answer and used no tools";
  return null;
}
