/**
 * Held tool calls (issue 13). A run whose runner reports "deferred" waits as
 * waiting_approval with the call on its row, holding its channel's queue; nothing on a
 * runner waits with it. A decision (a Discord button, REST, MCP, or the sweep's expiry) is
 * one compare-and-set from waiting_approval to queued that records it; the channel then
 * hands the run out again as a resume job whose hook answers that decision.
 *
 * Decisions are idempotent: a second identical answer to the same deferral gets the run back
 * unchanged; any other answer to a run that is not waiting is a 409 naming its status.
 */
import { and, eq } from "drizzle-orm";
import { sessionOf } from "../../durable-objects/contracts.ts";
import type { Run } from "../../protocol/api.ts";
import type { ApprovalChoice, ApprovalRequest, PermissionPolicy } from "../../protocol/policy.ts";
import type { Completion, RunEventData, WireEvent } from "../../protocol/runner.ts";
import type { Db } from "../db/client.ts";
import { expiredApprovals } from "../db/run-lookups.ts";
import { runs, type ApprovalDecisionRow, type RunRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { log } from "../log.ts";
import type { Env } from "../env.ts";
import { actorLabel } from "./actor.ts";
import type { DomainContext } from "./context.ts";
import { approvalTimeoutMs, assertMayGovern, narrowestRule } from "./policy.ts";
import { addAllowRule, effectivePolicy } from "./policy-store.ts";
import { appendEvent, parkRun } from "./run-state.ts";
import { loadRun } from "./runs.ts";
import { runView } from "./views.ts";

/** What the sweep says to the agent when nobody decided in time. */
export const NO_DECISION = "no decision";
/** Most expired approvals one sweep resolves (the next minute takes the rest). */
const EXPIRE_BATCH = 50;

/** Shown on the tool-input side of a held call: long inputs are cut where they are shown. */
const inputText = (input: Record<string, unknown>): string => JSON.stringify(input);

/** The runner reported a deferred call: park the run and record the request as an event. */
export async function parkDeferred(db: Db, d1: D1Database, runId: number, c: Completion, now: number): Promise<WireEvent | null> {
  const run = await db.query.runs.findFirst({ where: eq(runs.id, runId), columns: { taskId: true, channelId: true } });
  if (!run) return null;
  const { policy } = await effectivePolicy(db, run);
  const parked = await parkRun(db, runId, c, approvalTimeoutMs(policy), now);
  if (!parked?.pendingApproval) return null;
  const p = parked.pendingApproval;
  const expiresAt = parked.approvalExpiresAt === null ? {} : { expires_at: new Date(parked.approvalExpiresAt).toISOString() };
  const data: RunEventData = { type: "approval_requested", deferral: p.deferral, tool_use_id: p.toolUseId, name: p.toolName, input: inputText(p.input), ...expiresAt };
  log.info("approvals: run waits for a decision", { runId, deferral: p.deferral, tool: p.toolName, expiresAt: parked.approvalExpiresAt });
  return appendEvent(d1, runId, data, now);
}

export interface Decider {
  /** Recorded as "by": "discord:<id>", a token id, "admin", "expiry". */
  label: string;
}

export interface DecisionResult {
  run: Run;
  /** The same decision had already been recorded (a double click, a retried request). */
  duplicate: boolean;
}

/**
 * Records a decision on a run's held call and re-queues the run. Callers check who may decide
 * (Discord: owners, or members when the policy says so); run tokens never may.
 */
export async function decideApproval(ctx: DomainContext, runId: number, req: ApprovalRequest, decider?: Decider): Promise<DecisionResult> {
  assertMayGovern(ctx.actor, "decide on its own held tool calls");
  const run = await loadRun(ctx, runId);
  return recordDecision(ctx.db, ctx.env, run, req, decider ?? { label: actorLabel(ctx.actor) ?? "admin" });
}

/** The policy that decides who may answer this run's held call (members_can_approve). */
export async function runPolicy(db: Db, run: Pick<RunRow, "taskId" | "channelId">): Promise<PermissionPolicy> {
  return (await effectivePolicy(db, run)).policy;
}

async function recordDecision(db: Db, env: Env, run: RunRow, req: ApprovalRequest, decider: Decider, now = Date.now()): Promise<DecisionResult> {
  const pending = run.pendingApproval;
  const current = run.status === "waiting_approval" && pending ? pending.deferral : null;
  if (current === null || (req.deferral !== undefined && req.deferral !== current)) return settled(run, req);

  const rule = req.decision === "always_allow" ? (req.rule ?? narrowestRule(pending!.toolName, pending!.input)) : null;
  if (req.decision === "always_allow" && rule === null) {
    throw new AppError(
      422,
      "no_narrow_rule",
      `No rule allows exactly this ${pending!.toolName} call without allowing more (a compound command, a glob, a relative path): approve it once, or give the rule to add.`,
      "rule",
    );
  }
  const behavior = req.decision === "deny" ? "deny" : "allow";
  const reason = behavior === "deny" ? (req.reason ?? `denied by ${decider.label}`) : null;
  const decision: ApprovalDecisionRow = {
    deferral: current,
    choice: req.decision,
    by: decider.label,
    at: now,
    rule,
    tool: { tool_use_id: pending!.toolUseId, tool_name: pending!.toolName, behavior, reason },
  };
  const [updated] = await db
    .update(runs)
    .set({ status: "queued", approvalDecision: decision, approvalExpiresAt: null, runnerId: null, startedAt: null })
    .where(and(eq(runs.id, run.id), eq(runs.status, "waiting_approval"), eq(runs.deferrals, current)))
    .returning();
  if (!updated) {
    // Someone else decided in between: answer as they left it.
    const now2 = await db.query.runs.findFirst({ where: eq(runs.id, run.id) });
    return settled(now2 ?? run, req);
  }
  if (rule) {
    try {
      await addAllowRule(db, run, rule);
    } catch (err) {
      // The call is approved either way; only the lasting rule is missing.
      log.error("approvals: could not add the always-allow rule", { runId: run.id, rule, error: String(err) });
    }
  }
  const event = await appendEvent(
    env.DB,
    run.id,
    { type: "approval_decided", deferral: current, tool_use_id: pending!.toolUseId, decision: req.decision, by: decider.label, reason, rule },
    now,
  );
  log.info("approvals: decided", { runId: run.id, deferral: current, decision: req.decision, by: decider.label, rule });
  await sessionOf(env, run.channelId).resume(run.channelId, run.id, [event]);
  return { run: runView(updated), duplicate: false };
}

/** A run that is not waiting for this decision: the same answer again is fine, anything else is 409. */
function settled(run: RunRow, req: ApprovalRequest): DecisionResult {
  const last = run.approvalDecision;
  const sameDeferral = last && (req.deferral === undefined ? run.status !== "waiting_approval" : last.deferral === req.deferral);
  if (sameDeferral && last.choice === req.decision) return { run: runView(run), duplicate: true };
  if (run.status === "waiting_approval" && req.deferral !== undefined) {
    throw new AppError(409, "stale_approval", `Run ${run.id} now waits on a later call (deferral ${run.pendingApproval?.deferral}); this answer was for deferral ${req.deferral}.`, "deferral");
  }
  const decided = last && sameDeferral ? ` (already decided: ${choiceWord(last.choice)} by ${last.by})` : "";
  throw new AppError(409, "not_waiting", `Run ${run.id} is ${run.status}, not waiting for approval${decided}.`);
}

export const choiceWord = (c: ApprovalChoice): string => (c === "always_allow" ? "always allowed" : c === "approve" ? "approved" : "denied");

/** The sweep: held calls nobody decided on in time are denied with "no decision". */
export async function expireApprovals(db: Db, env: Env, now: number): Promise<number[]> {
  const due = await expiredApprovals(db, now, EXPIRE_BATCH);
  const expired: number[] = [];
  for (const run of due) {
    try {
      const r = await recordDecision(db, env, run, { decision: "deny", reason: NO_DECISION, deferral: run.pendingApproval?.deferral ?? undefined }, { label: "expiry" }, now);
      if (!r.duplicate) expired.push(run.id);
    } catch (err) {
      if (!(err instanceof AppError)) log.error("approvals: could not expire a held call", { runId: run.id, error: String(err) });
    }
  }
  return expired;
}
