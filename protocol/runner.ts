/**
 * The runner protocol, /runner/v1: every message between the Worker and a self-hosted
 * runner. The Worker validates what it receives with these schemas and the runner parses
 * every response with them, so the wire format is written exactly once.
 *
 *   claim      POST /runner/v1/claim                 → 200 Job | 204 (nothing within wait_ms; may
 *              carry WORKTREE_REMOVALS_HEADER)
 *   heartbeat  POST /runner/v1/runs/:id/heartbeat    → HeartbeatResponse (extends the lease; sent
 *              only when nothing else reached the Worker for a while, see FIRST_CONTACT_MS)
 *   events     POST /runner/v1/runs/:id/events       → EventBatchResponse (dupes ignored)
 *   complete   POST /runner/v1/runs/:id/complete     → CompleteResponse (idempotent; may carry the last events)
 *   abandon    POST /runner/v1/runs/:id/abandon      → AbandonResponse (hands the lease back)
 *   monitor    POST /runner/v1/runs/:id/monitor      → MonitorResponse (a loop iteration's
 *              monitor output; the answer is the iteration's prompt, built with it)
 *   removals   POST /runner/v1/worktrees/removals    → WorktreeRemovals (worktrees of deleted tasks)
 *   removed    POST /runner/v1/worktrees/removed     → WorktreesRemovedResponse (acknowledges them)
 *
 * heartbeat, events, complete and abandon carry the job's lease_id; a caller that no
 * longer holds the lease (it expired and the run went to another attempt) gets 409.
 */
import { z } from "zod";
import { DeferredToolUse, PermissionPolicy, ToolDecision } from "./policy.ts";

export const PROTOCOL_VERSION = "v1";
/** Where the Worker serves this protocol. */
export const RUNNER_PATH = `/runner/${PROTOCOL_VERSION}`;
/** Largest request body the Worker accepts here; the runner keeps its event batches well below it. */
export const MAX_RUNNER_BODY_BYTES = 1024 * 1024;

/**
 * Longest a claim may wait before the Worker answers 204. An idle runner sends one claim
 * per wait, so this sets its idle cost: 86,400 s / 90 s = 960 requests a day (issue 15's
 * goal: ≤ 1,000). A parked claim is answered the moment a job arrives, so a longer wait
 * costs no dispatch latency. What bounds it: a Worker may run as long as its client stays
 * connected (https://developers.cloudflare.com/workers/platform/limits/#duration), and
 * Cloudflare's proxy gives up on a request with no response byte after 100 s (Proxy Read
 * Timeout, 524; the client's own connection may idle 400 s:
 * https://developers.cloudflare.com/fundamentals/reference/connection-limits/). 90 s keeps
 * 10 s of margin under the 100 s. A claim whose runner died meanwhile costs at most
 * LEASE_ACK_MS of a job's time (durable-objects/leases.ts).
 */
export const MAX_CLAIM_WAIT_MS = 90_000;

/**
 * Set ("1") on a claim's 204 when the Worker holds worktree removals for this runner (a task
 * that ran in a worktree here was deleted): the runner then asks `POST /worktrees/removals`.
 * So an idle runner learns of them within one claim wait, with no polling of its own.
 */
export const WORKTREE_REMOVALS_HEADER = "loop-worktree-removals";

export const ClaimRequest = z.strictObject({
  wait_ms: z.number().int().min(0).max(MAX_CLAIM_WAIT_MS).default(MAX_CLAIM_WAIT_MS),
  runner_version: z.string().max(50).optional(),
  /**
   * Serve only these of the runner's registered labels (the runner config's `labels`).
   * Absent: all of them. A label the runner was not registered with is refused (422).
   */
  labels: z.array(z.string().max(64)).max(20).optional(),
});
export type ClaimRequest = z.input<typeof ClaimRequest>;

/** Longest a monitor command may run before it is killed. */
export const MONITOR_TIMEOUT_SEC = 60;
/** The runner reports at most the last this-many characters of a monitor's output. */
export const MAX_MONITOR_OUTPUT_CHARS = 16_000;

export const MonitorSpec = z.object({
  command: z.string().min(1),
  timeout_sec: z.number().int().positive().max(MONITOR_TIMEOUT_SEC),
});
export type MonitorSpec = z.infer<typeof MonitorSpec>;

export const Job = z.object({
  run_id: z.number().int(),
  lease_id: z.string(),
  attempt: z.number().int().min(1),
  lease_ttl_ms: z.number().int().positive(),
  /** Number this lease's events from here: attempts of one run never share a seq. */
  first_seq: z.number().int().min(1),
  channel_id: z.string(),
  prompt: z.string(),
  /** The channel's Claude session to --resume; null starts a fresh one. */
  session_id: z.string().nullable(),
  /** The project directory on the runner host, mounted at the same path. */
  workdir: z.string().nullable(),
  /**
   * Whose Claude state (sessions) the run uses on the runner: the channel's own, or its
   * parent's for a thread, so a thread can resume a session its parent's run began.
   * Absent from older Workers: the channel id.
   */
  state_key: z.string().optional(),
  model: z.string().nullable(),
  /**
   * Set for a worktree task (the original's `worktree: true`): the run works in the task's
   * git worktree <workdir>/.loop/worktrees/task-<task_id>, created on first use from
   * origin_branch (null: the directory's HEAD branch) and kept for the next run. With
   * update_before_run the worktree is fetched and fast-forwarded first.
   */
  worktree: z
    .object({ task_id: z.number().int().positive(), origin_branch: z.string().nullable(), update_before_run: z.boolean() })
    .nullable()
    .default(null),
  /**
   * Per-run limits from the task, else the channel (issue 14); null: the runner's own.
   * The runner config's values are ceilings: a job can ask for less, never more.
   */
  limits: z.object({
    timeout_sec: z.number().int().positive().nullable(),
    /** Passed to claude as --max-turns. */
    max_turns: z.number().int().positive().nullable().default(null),
    /** Passed to claude as --max-budget-usd. */
    max_budget_usd: z.number().positive().nullable().default(null),
  }),
  /** The permission policy the runner enforces in the container (null: auto, no hook). */
  policy: PermissionPolicy.nullable().default(null),
  /**
   * Set when the job resumes a run that waited for approval: --resume session_id with no
   * prompt, and the hook answers this decision for that tool_use id.
   */
  approval: ToolDecision.nullable().default(null),
  /** The Worker's MCP endpoint and a token that only works for this run's channel. */
  mcp: z.object({ url: z.string(), token: z.string() }),
  /** Passed to claude as --append-system-prompt (a loop's system_prompt). */
  append_system_prompt: z.string().nullable().default(null),
  /**
   * A loop iteration's monitor command: run it first, in a container like the agent's
   * (same image, mounts and network, no credentials), report it with POST …/monitor, and
   * run claude with the prompt that answer carries instead of `prompt`.
   */
  monitor: MonitorSpec.nullable().default(null),
});
export type Job = z.infer<typeof Job>;

/**
 * The runner's first request under a fresh lease goes out this long after the claim's
 * answer, not at once, and acknowledges the lease: the first event batch when the run has
 * produced events by then, else a heartbeat; a run that ends sooner acknowledges it with its
 * completion. So a short run costs claim + complete and a longer one spends no request on a
 * bare acknowledgement (issue 15: ≤ 8 Worker requests per job). A lease shorter than three
 * times this (tests) is first contacted after a third of its TTL instead. The Worker relies
 * on it: an unacknowledged lease runs LEASE_ACK_MS (durable-objects/leases.ts), this plus
 * room for the runner's retries. The price: a cancel for a just-claimed run reaches its
 * runner with that first request, up to this long after the claim.
 */
export const FIRST_CONTACT_MS = 4_000;

const LeaseRef = { lease_id: z.string().min(1).max(100) };

export const HeartbeatRequest = z.strictObject(LeaseRef);
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;

export const HeartbeatResponse = z.object({
  cancel: z.boolean(),
  lease_expires_at: z.number().int(),
});
export type HeartbeatResponse = z.infer<typeof HeartbeatResponse>;

/**
 * What happened during a run, as the runner reports it. The stream-json parser produces
 * these; Discord and SSE watchers render them.
 */
export const RunEventData = z.discriminatedUnion("type", [
  z.object({ type: z.literal("init"), session_id: z.string().nullable(), model: z.string().nullable(), tools: z.array(z.string()).default([]) }),
  z.object({ type: z.literal("text"), text: z.string() }),
  z.object({ type: z.literal("tool_use"), id: z.string(), name: z.string(), input: z.string() }),
  z.object({ type: z.literal("tool_result"), tool_use_id: z.string(), is_error: z.boolean(), output: z.string() }),
  /** Something the runner did on the run's behalf: a resume fallback, a retry, a cancel. */
  z.object({ type: z.literal("notice"), message: z.string() }),
  /** Written by the Worker: the run stopped at a call the policy holds for a person. */
  z.object({
    type: z.literal("approval_requested"),
    deferral: z.number().int(),
    tool_use_id: z.string(),
    name: z.string(),
    input: z.string(),
    /** When the call is denied with "no decision" unless someone decides (ISO 8601); absent in events stored before it was added. */
    expires_at: z.string().optional(),
  }),
  /** Written by the Worker: who decided on a held call, and what (by: "expiry" when nobody did). */
  z.object({
    type: z.literal("approval_decided"),
    deferral: z.number().int(),
    tool_use_id: z.string(),
    decision: z.enum(["approve", "deny", "always_allow"]),
    by: z.string(),
    reason: z.string().nullable(),
    rule: z.string().nullable(),
  }),
]);
export type RunEventData = z.infer<typeof RunEventData>;

export const MAX_EVENTS_PER_BATCH = 200;

export const WireEvent = z.object({
  seq: z.number().int().min(1),
  /** Epoch milliseconds when the runner saw it. */
  at: z.number().int(),
  data: RunEventData,
});
export type WireEvent = z.infer<typeof WireEvent>;

export const EventBatch = z.strictObject({
  ...LeaseRef,
  events: z.array(WireEvent).min(1).max(MAX_EVENTS_PER_BATCH),
});
export type EventBatch = z.infer<typeof EventBatch>;

export const EventBatchResponse = z.object({ accepted: z.number().int(), cancel: z.boolean() });
export type EventBatchResponse = z.infer<typeof EventBatchResponse>;

export const Usage = z.object({
  /** Every input token, cache reads and writes included. */
  input_tokens: z.number().int().min(0),
  output_tokens: z.number().int().min(0),
  /** How much of input_tokens was read from / written to the prompt cache (absent from older runners). */
  cache_read_tokens: z.number().int().min(0).optional(),
  cache_write_tokens: z.number().int().min(0).optional(),
});

/**
 * How a run ended on the runner. "deferred": Claude Code stopped at a call the policy holds
 * for a person (stop_reason tool_deferred); deferred_tool_use names it and the run waits.
 */
export const COMPLETION_STATUSES = ["succeeded", "failed", "cancelled", "deferred"] as const;

export const Completion = z.strictObject({
  ...LeaseRef,
  status: z.enum(COMPLETION_STATUSES),
  result_text: z.string().max(200_000).nullable().default(null),
  session_id: z.string().max(200).nullable().default(null),
  usage: Usage.nullable().default(null),
  cost_usd: z.number().min(0).nullable().default(null),
  exit_code: z.number().int().nullable().default(null),
  error: z.string().max(10_000).nullable().default(null),
  model: z.string().max(200).nullable().default(null),
  duration_ms: z.number().int().min(0).nullable().default(null),
  /** The run's last events, stored before the completion: one request instead of two. */
  events: z.array(WireEvent).max(MAX_EVENTS_PER_BATCH).default([]),
  deferred_tool_use: DeferredToolUse.nullable().default(null),
}).refine((c) => (c.status === "deferred") === (c.deferred_tool_use !== null), {
  message: "deferred_tool_use is given exactly when status is deferred",
  path: ["deferred_tool_use"],
});
export type Completion = z.infer<typeof Completion>;
export type CompletionInput = z.input<typeof Completion>;

export const MonitorReport = z.strictObject({
  ...LeaseRef,
  /** stdout and stderr as they interleaved, the last MAX_MONITOR_OUTPUT_CHARS characters. */
  output: z.string().max(MAX_MONITOR_OUTPUT_CHARS),
  /** Null when the command did not exit by itself (timed out, or could not start). */
  exit_code: z.number().int().nullable(),
  duration_ms: z.number().int().min(0),
});
export type MonitorReport = z.infer<typeof MonitorReport>;

export const MonitorResponse = z.object({ prompt: z.string() });
export type MonitorResponse = z.infer<typeof MonitorResponse>;

export const CompleteResponse = z.object({ ok: z.literal(true), duplicate: z.boolean() });
export type CompleteResponse = z.infer<typeof CompleteResponse>;

/**
 * Why a runner gives a lease back without a result: it restarted and found the run's
 * container orphaned by its crashed predecessor ("restart"), or it is stopping and its
 * grace time ran out ("shutdown"). Either way the attempt is spent, exactly as if the lease
 * had expired, but the run goes back to the queue at once instead of after the lease TTL.
 */
export const AbandonReason = z.enum(["restart", "shutdown"]);
export type AbandonReason = z.infer<typeof AbandonReason>;

export const AbandonRequest = z.strictObject({ ...LeaseRef, reason: AbandonReason });
export type AbandonRequest = z.infer<typeof AbandonRequest>;

/** requeued: the run waits for its next attempt (`attempt`); ended: that was its last one. */
export const AbandonResponse = z.object({ outcome: z.enum(["requeued", "ended"]), attempt: z.number().int().min(1) });
export type AbandonResponse = z.infer<typeof AbandonResponse>;

/** A worktree left by a deleted task on this runner: <dir_path>/.loop/worktrees/task-<task_id>. */
export const WorktreeRemoval = z.object({ task_id: z.number().int().positive(), dir_path: z.string() });
export type WorktreeRemoval = z.infer<typeof WorktreeRemoval>;

export const WorktreeRemovals = z.object({ removals: z.array(WorktreeRemoval) });
export type WorktreeRemovals = z.infer<typeof WorktreeRemovals>;

/** Removed (or already gone): the Worker forgets them. */
export const WorktreesRemoved = z.strictObject({ task_ids: z.array(z.number().int().positive()).min(1).max(200) });
export type WorktreesRemoved = z.infer<typeof WorktreesRemoved>;

export const WorktreesRemovedResponse = z.object({ forgotten: z.number().int() });
export type WorktreesRemovedResponse = z.infer<typeof WorktreesRemovedResponse>;
