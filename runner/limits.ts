/**
 * A job's per-run limits against this runner's config (issue 14): the job may ask for less
 * than the config allows, never more. Pure.
 */
import type { Job } from "../protocol/runner.ts";
import type { RunnerConfig } from "./config.ts";

export interface EffectiveLimits {
  timeoutSec: number;
  stallTimeoutSec: number;
  maxTurns: number | null;
  maxBudgetUsd: number | null;
}

const lower = (asked: number | null | undefined, ceiling: number | null): number | null =>
  asked == null ? ceiling : ceiling == null ? asked : Math.min(asked, ceiling);

export function effectiveLimits(job: Pick<Job, "limits">, config: Pick<RunnerConfig, "timeoutSec" | "stallTimeoutSec" | "maxTurns" | "maxBudgetUsd">): EffectiveLimits {
  return {
    timeoutSec: lower(job.limits.timeout_sec, config.timeoutSec)!,
    stallTimeoutSec: config.stallTimeoutSec,
    maxTurns: lower(job.limits.max_turns, config.maxTurns),
    maxBudgetUsd: lower(job.limits.max_budget_usd, config.maxBudgetUsd),
  };
}
