/**
 * The REST API's wire format: request bodies and queries as the Worker validates them, and
 * the resources it returns, which the `loop` CLI parses. zod only: no runtime code of
 * either side lives here.
 */
import { z } from "zod";
import { PendingApproval, PermissionPolicy } from "./policy.ts";

/** Longest prompt a task or run accepts (characters). Bodies are capped at 64 KiB. */
export const MAX_PROMPT_CHARS = 32_000;
export const MAX_BODY_BYTES = 64 * 1024;

// The enums as tuples too: the D1 schema (core/db/schema.ts) builds its column enums from them.
/** "manual": no schedule; the task runs only when someone runs it now (run_task, /loop task run, REST). */
export const TASK_TYPES = ["cron", "interval", "once", "manual"] as const;
export const TaskType = z.enum(TASK_TYPES);
export type TaskType = z.infer<typeof TaskType>;

/**
 * The one list of run states (D1's runs.status uses it too). skipped_budget: the run would
 * have started past a spending cap, so it never reached a runner (issue 14). waiting_approval:
 * stopped at a tool call held for a person; nothing runs meanwhile (issue 13).
 */
export const RUN_STATUSES = ["queued", "running", "waiting_approval", "succeeded", "failed", "cancelled", "lost", "skipped_budget"] as const;
export const RunStatus = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatus>;

export const RUN_TRIGGERS = ["discord", "schedule", "mcp", "api"] as const;
export const RunTrigger = z.enum(RUN_TRIGGERS);
export type RunTrigger = z.infer<typeof RunTrigger>;

/** Who fired a task occurrence: the channel's own alarm, or the minute sweep stepping in. */
export const FIRED_BY = ["alarm", "sweep"] as const;
export type FiredBy = (typeof FIRED_BY)[number];

const Prompt = z.string().trim().min(1, "prompt is empty").max(MAX_PROMPT_CHARS, `prompt is longer than ${MAX_PROMPT_CHARS} characters`);
export const ScheduleText = z.string().max(200, "schedule is longer than 200 characters");
const TimeZone = z.string().min(1).max(64);
export const ChannelId = z.string().min(1).max(64);

// ---- tasks ----------------------------------------------------------------------------

/** Longest auto_delete_sec: a thread kept 30 days is as good as kept. */
export const MAX_AUTO_DELETE_SEC = 30 * 86_400;
export const AutoDeleteSec = z.int().min(0).max(MAX_AUTO_DELETE_SEC, `auto_delete_sec is at most ${MAX_AUTO_DELETE_SEC} (30 days)`);
/** A git branch name as `git check-ref-format --branch` would take it (the common subset). */
export const OriginBranch = z
  .string()
  .trim()
  .max(200)
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._\/-]+(?<![./])$/, "origin_branch must be a git branch name, e.g. main or release/1.2")
  .refine((b) => !b.endsWith(".lock"), { message: "origin_branch must not end in .lock" });

/** The original's task options (radutopala/loop schedule_task); all optional. */
const TaskOptions = {
  auto_delete_sec: AutoDeleteSec,
  worktree: z.boolean(),
  origin_branch: OriginBranch.nullable(),
  update_before_run: z.boolean(),
};

export const CreateTask = z.strictObject({
  channel_id: ChannelId,
  /** Ignored (may be empty or absent) for manual tasks. */
  schedule: ScheduleText.default(""),
  type: TaskType,
  prompt: Prompt,
  tz: TimeZone.nullish(),
  template_name: z.string().min(1).max(64).nullish(),
  ...z.object(TaskOptions).partial().shape,
});
export type CreateTask = z.infer<typeof CreateTask>;

export const UpdateTask = z
  .strictObject({
    enabled: z.boolean(),
    schedule: ScheduleText,
    type: TaskType,
    prompt: Prompt,
    tz: TimeZone.nullable(),
    ...TaskOptions,
    permission_policy: PermissionPolicy.nullable(),
  })
  .partial()
  .refine((v) => Object.keys(v).length > 0, {
    message: "nothing to change: give enabled, schedule, type, prompt, tz, auto_delete_sec, worktree, origin_branch, update_before_run or permission_policy",
  });
export type UpdateTask = z.infer<typeof UpdateTask>;

/** The most tasks, or channels, one list request answers; pass before (tasks) or after (channels) for the next page. */
export const MAX_LIST_PAGE = 500;
const PageLimit = z.coerce.number().int().min(1).max(MAX_LIST_PAGE).default(MAX_LIST_PAGE);

export const ListTasksQuery = z.strictObject({
  channel_id: ChannelId.optional(),
  limit: PageLimit,
  /** Only tasks with a smaller id (the list is newest first): the last id of the previous page. */
  before: z.coerce.number().int().positive().optional(),
});

export const ListChannelsQuery = z.strictObject({
  limit: PageLimit,
  /** Only channels created after this one (the list is oldest first): the last id of the previous page. */
  after: ChannelId.optional(),
});

export const PreviewQuery = z.strictObject({
  count: z.coerce.number().int().min(1).max(50).default(5),
});

export const Task = z.object({
  id: z.number().int(),
  channel_id: z.string(),
  schedule: z.string(),
  type: TaskType,
  tz: z.string().nullable(),
  prompt: z.string(),
  enabled: z.boolean(),
  next_run_at: z.string().nullable(),
  last_run_at: z.string().nullable(),
  template_name: z.string().nullable(),
  auto_delete_sec: z.number().int(),
  worktree: z.boolean(),
  origin_branch: z.string().nullable(),
  update_before_run: z.boolean(),
  /** Overrides the channel's permission policy for this task's runs; null: the channel's. */
  permission_policy: PermissionPolicy.nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type Task = z.infer<typeof Task>;

export const TaskWithPreview = Task.extend({ preview: z.array(z.string()) });
export type TaskWithPreview = z.infer<typeof TaskWithPreview>;

// ---- channels -------------------------------------------------------------------------

export const EnsureChannel = z.strictObject({
  dir_path: z
    .string()
    .min(1)
    .max(1024)
    .refine((p) => p.startsWith("/"), { message: "dir_path must be an absolute path" }),
  name: z.string().trim().min(1).max(100).optional(),
  channel_id: ChannelId.optional(),
});
export type EnsureChannel = z.infer<typeof EnsureChannel>;

export const Channel = z.object({
  id: z.string(),
  discord_channel_id: z.string().nullable(),
  guild_id: z.string().nullable(),
  name: z.string(),
  dir_path: z.string().nullable(),
  parent_id: z.string().nullable(),
  session_id: z.string().nullable(),
  runner_label: z.string().nullable(),
  /** The permission policy its runs follow (mode auto when never set). */
  permission_policy: PermissionPolicy,
  created_at: z.string(),
  updated_at: z.string(),
});
export type Channel = z.infer<typeof Channel>;

// ---- runs -----------------------------------------------------------------------------

export const ListRunsQuery = z.strictObject({
  channel_id: ChannelId.optional(),
  task_id: z.coerce.number().int().positive().optional(),
  status: RunStatus.optional(),
  trigger: RunTrigger.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.coerce.number().int().positive().optional(),
});

export const RunEvent = z.object({
  seq: z.number().int(),
  type: z.string(),
  payload: z.unknown(),
  at: z.string(),
});
export type RunEvent = z.infer<typeof RunEvent>;

export const Run = z.object({
  id: z.number().int(),
  task_id: z.number().int().nullable(),
  channel_id: z.string(),
  trigger: RunTrigger,
  status: RunStatus,
  prompt: z.string(),
  scheduled_for: z.string().nullable(),
  late_ms: z.number().int().nullable(),
  missed_count: z.number().int(),
  attempt: z.number().int(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  result_text: z.string().nullable(),
  error: z.string().nullable(),
  session_id: z.string().nullable(),
  input_tokens: z.number().int().nullable(),
  output_tokens: z.number().int().nullable(),
  /** The part of input_tokens that was read from or written to the prompt cache. */
  cache_read_tokens: z.number().int().nullable(),
  cache_write_tokens: z.number().int().nullable(),
  cost_usd: z.number().nullable(),
  exit_code: z.number().int().nullable(),
  model: z.string().nullable(),
  /** Set on a loop's iterations (docs/loops.md). */
  loop_id: z.number().int().nullable(),
  iteration: z.number().int().nullable(),
  /** The call the run waits on while status is waiting_approval. */
  pending_approval: PendingApproval.nullable(),
});
export type Run = z.infer<typeof Run>;

export const RunWithEvents = Run.extend({ events: z.array(RunEvent) });

export const CreateRun = z.strictObject({ channel_id: ChannelId, prompt: Prompt });
export type CreateRun = z.infer<typeof CreateRun>;

// ---- runners --------------------------------------------------------------------------

export const RunnerLabel = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, "labels are lowercase letters, digits, '.', '-' and '_', e.g. home-server");

export const RegisterRunner = z.strictObject({
  name: z.string().trim().min(1).max(100),
  labels: z.array(RunnerLabel).max(20).default([]),
});
export type RegisterRunner = z.infer<typeof RegisterRunner>;

export const Lease = z.object({ run_id: z.number().int(), channel_id: z.string(), attempt: z.number().int(), expires_at: z.string() });

export const Runner = z.object({
  id: z.string(),
  name: z.string(),
  labels: z.array(z.string()),
  last_seen_at: z.string().nullable(),
  created_at: z.string(),
  leases: z.array(Lease),
});
export type Runner = z.infer<typeof Runner>;

/** session_id: the Claude session the channel's next run resumes (`loop import` brings the original's). */
export const SetChannel = z.strictObject({ runner_label: RunnerLabel.nullable(), session_id: z.string().trim().min(1).max(200).nullable() }).partial();

// ---- tokens ---------------------------------------------------------------------------

export const TokenScope = z.union([z.literal("admin"), z.array(ChannelId).min(1).max(100)]);

export const CreateToken = z.strictObject({
  name: z.string().trim().min(1).max(100),
  scope: TokenScope,
  expires_in_days: z.number().int().min(1).max(3650).optional(),
});
export type CreateToken = z.infer<typeof CreateToken>;

export const ApiToken = z.object({
  id: z.string(),
  name: z.string(),
  scope: TokenScope,
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  created_at: z.string(),
});
export type ApiToken = z.infer<typeof ApiToken>;

/** Returned once, at creation: the only time the secret is shown. */
export const CreatedToken = ApiToken.extend({ token: z.string() });

// ---- errors ---------------------------------------------------------------------------

/** Every error answer of the Worker, on every surface (REST, /runner/v1): one shape. */
export const ErrorBody = z.object({
  error: z.object({ code: z.string(), message: z.string(), field: z.string().optional() }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- templates ------------------------------------------------------------------------

export const TemplateName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "template names are lowercase letters, digits, - and _, e.g. daily-summary");

export const PutTemplate = z.strictObject({
  description: z.string().max(500).default(""),
  schedule: ScheduleText.default(""),
  type: TaskType,
  prompt: Prompt,
  tz: TimeZone.nullish(),
  auto_delete_sec: AutoDeleteSec.default(0),
});
export type PutTemplate = z.infer<typeof PutTemplate>;

export const Template = z.object({
  name: z.string(),
  description: z.string(),
  schedule: z.string(),
  type: TaskType,
  tz: z.string().nullable(),
  prompt: z.string(),
  auto_delete_sec: z.number().int(),
});
export type Template = z.infer<typeof Template>;

export const AddTemplate = z.strictObject({ name: TemplateName });

// ---- loops (docs/loops.md) ------------------------------------------------------------

/** A loop's life: running until loop_done, its until text, max_iterations, a stop, or failures. */
export const LOOP_STATUSES = ["running", "done", "stopped", "failed"] as const;
export const LoopStatus = z.enum(LOOP_STATUSES);
export type LoopStatus = z.infer<typeof LoopStatus>;

/** Why a loop ended. */
export const LOOP_END_REASONS = ["loop_done", "until", "max_iterations", "stopped", "iteration_failed", "iteration_ended"] as const;
export const LoopEndReason = z.enum(LOOP_END_REASONS);
export type LoopEndReason = z.infer<typeof LoopEndReason>;

/** The most iterations a loop may run; max_iterations 0 ("until stopped") means this many. */
export const MAX_LOOP_ITERATIONS = 1_000;
/** The shortest `every` and `monitor_every` (Loop Runner's minimum interval). */
export const MIN_LOOP_EVERY_MS = 1_000;
/** The longest `every` and `monitor_every`. */
export const MAX_LOOP_EVERY_MS = 7 * 86_400_000;
export const MAX_SYSTEM_PROMPT_CHARS = 16_000;
export const MAX_MONITOR_COMMAND_CHARS = 2_000;
export const MAX_UNTIL_CHARS = 500;
/** Each of a channel's two memories holds at most this many characters. */
export const MAX_MEMORY_CHARS = 16_000;

const GoDuration = z.string().trim().min(1).max(50);

export const StartLoop = z.strictObject({
  channel_id: ChannelId,
  prompt: Prompt,
  system_prompt: z.string().max(MAX_SYSTEM_PROMPT_CHARS, `system_prompt is longer than ${MAX_SYSTEM_PROMPT_CHARS} characters`).nullish(),
  max_iterations: z.number().int().min(0).max(MAX_LOOP_ITERATIONS).default(0),
  /** Go duration between iteration starts ("2s", "5m"); absent or "0" runs them back to back. */
  every: GoDuration.nullish(),
  fresh_session: z.boolean().default(true),
  /** The loop ends when an answer contains this text (case-insensitive). */
  until: z.string().trim().min(1).max(MAX_UNTIL_CHARS).nullish(),
  monitor_command: z.string().trim().min(1).max(MAX_MONITOR_COMMAND_CHARS).nullish(),
  /** Go duration: run the monitor at most this often; absent runs it before every iteration. */
  monitor_every: GoDuration.nullish(),
});
export type StartLoop = z.input<typeof StartLoop>;

export const Loop = z.object({
  id: z.number().int(),
  channel_id: z.string(),
  status: LoopStatus,
  prompt: z.string(),
  system_prompt: z.string().nullable(),
  max_iterations: z.number().int(),
  every_ms: z.number().int(),
  fresh_session: z.boolean(),
  until: z.string().nullable(),
  monitor_command: z.string().nullable(),
  monitor_every_ms: z.number().int(),
  iteration: z.number().int(),
  next_at: z.string().nullable(),
  end_reason: LoopEndReason.nullable(),
  summary: z.string().nullable(),
  created_at: z.string(),
  ended_at: z.string().nullable(),
});
export type Loop = z.infer<typeof Loop>;

export const LoopIteration = z.object({
  iteration: z.number().int(),
  run_id: z.number().int(),
  status: RunStatus,
  prompt: z.string(),
  result_text: z.string().nullable(),
  error: z.string().nullable(),
  monitor_output: z.string().nullable(),
  monitor_exit_code: z.number().int().nullable(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  cost_usd: z.number().nullable(),
});
export type LoopIteration = z.infer<typeof LoopIteration>;

export const LoopWithIterations = Loop.extend({ iterations: z.array(LoopIteration) });
export type LoopWithIterations = z.infer<typeof LoopWithIterations>;

export const ListLoopsQuery = z.strictObject({
  channel_id: ChannelId.optional(),
  status: LoopStatus.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const MEMORY_KINDS = ["persistent", "working"] as const;
export const MemoryKind = z.enum(MEMORY_KINDS);
export type MemoryKind = z.infer<typeof MemoryKind>;

const MemoryText = z.string().max(MAX_MEMORY_CHARS, `text is longer than ${MAX_MEMORY_CHARS} characters`);
export const SetMemory = z.strictObject({ text: MemoryText });
export const AppendMemory = z.strictObject({ text: MemoryText.min(1, "text is empty") });

export const Memory = z.object({
  channel_id: z.string(),
  persistent: z.string(),
  working: z.string(),
  updated_at: z.string().nullable(),
});
export type Memory = z.infer<typeof Memory>;
