/**
 * D1 schema. Every table, column and index Loop stores; docs/storage.md explains the
 * record shapes and who writes them. Times are integer milliseconds since the epoch (UTC).
 * Migrations in migrations/ are generated from this file by `npm run db:generate`.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex, type AnySQLiteColumn } from "drizzle-orm/sqlite-core";
// TASK_TYPES: cron, interval, once, and "manual" (no schedule: runs only when someone runs it now).
import { FIRED_BY, LOOP_END_REASONS, LOOP_STATUSES, RUN_STATUSES, RUN_TRIGGERS, TASK_TYPES } from "../../protocol/api.ts";
import type { PermissionPolicy, ToolDecision } from "../../protocol/policy.ts";

/** A decision on a run's held call; kept after the run ends, so a repeated decision is recognised. */
export interface ApprovalDecisionRow {
  deferral: number;
  choice: "approve" | "deny" | "always_allow";
  /** "discord:<user id>", an API token id, "admin", or "expiry". */
  by: string;
  at: number;
  rule: string | null;
  /** What the resume job's hook answers. */
  tool: ToolDecision;
}

/** A run's held call (status waiting_approval): migration 0002, issue 13. */
export interface PendingApprovalRow {
  deferral: number;
  toolUseId: string;
  toolName: string;
  input: Record<string, unknown>;
  requestedAt: number;
}

const createdAt = () =>
  integer("created_at", { mode: "number" })
    .notNull()
    .default(sql`(CAST(unixepoch('subsec') * 1000 AS INTEGER))`);
const updatedAt = () =>
  integer("updated_at", { mode: "number" })
    .notNull()
    .default(sql`(CAST(unixepoch('subsec') * 1000 AS INTEGER))`);
/** Per-run limits (issue 14): passed to claude as --max-turns / --max-budget-usd, and the run's timeout. */
const runLimits = () => ({
  maxTurns: integer("max_turns"),
  maxBudgetUsd: real("max_budget_usd"),
  timeoutSec: integer("timeout_sec"),
});


export const channels = sqliteTable(
  "channels",
  {
    id: text("id").primaryKey(),
    discordChannelId: text("discord_channel_id"),
    guildId: text("guild_id"),
    name: text("name").notNull(),
    dirPath: text("dir_path"),
    parentId: text("parent_id"),
    sessionId: text("session_id"),
    runnerLabel: text("runner_label"),
    ownerIds: text("owner_ids", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    // Null: mode auto with no rules (issue 13).
    permissionPolicy: text("permission_policy", { mode: "json" }).$type<PermissionPolicy>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    // Per-run limits for the channel's runs (a task may override them); null: the runner's own.
    ...runLimits(),
    // A thread a run created: messages in it are for Loop, and it takes over the run's
    // session when the run completes (run-state.ts finishRun).
    originRunId: integer("origin_run_id"),
    // Set for a direct-message conversation: the user on the other side.
    dmUserId: text("dm_user_id"),
  },
  (t) => [
    uniqueIndex("channels_discord_channel_id").on(t.discordChannelId),
    // Threads and DMs have no directory of their own: only rows with one are indexed.
    uniqueIndex("channels_dir_path").on(t.dirPath).where(sql`${t.dirPath} IS NOT NULL`),
  ],
);

export const tasks = sqliteTable(
  "tasks",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    channelId: text("channel_id")
      .notNull()
      .references(() => channels.id, { onDelete: "cascade" }),
    schedule: text("schedule").notNull(),
    type: text("type", { enum: TASK_TYPES }).notNull(),
    tz: text("tz"),
    prompt: text("prompt").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull().default(true),
    nextRunAt: integer("next_run_at", { mode: "number" }),
    lastRunAt: integer("last_run_at", { mode: "number" }),
    templateName: text("template_name"),
    // Replaces the channel's policy for this task's runs; null: the channel's.
    permissionPolicy: text("permission_policy", { mode: "json" }).$type<PermissionPolicy>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    // The original's task options (issue 16): a scheduled run's Discord thread is deleted
    // this many seconds after the run ends (0: kept); worktree tasks run in their own git
    // worktree on the runner, based on origin_branch (null: the directory's HEAD branch).
    autoDeleteSec: integer("auto_delete_sec").notNull().default(0),
    worktree: integer("worktree", { mode: "boolean" }).notNull().default(false),
    originBranch: text("origin_branch"),
    updateBeforeRun: integer("update_before_run", { mode: "boolean" }).notNull().default(false),
    // Overrides of the channel's per-run limits for this task's runs; null: the channel's.
    ...runLimits(),
  },
  (t) => [
    index("tasks_channel").on(t.channelId),
    // The alarm and the sweep both ask "which enabled tasks are due".
    index("tasks_due").on(t.enabled, t.nextRunAt),
    // Adding a template twice to one channel is a no-op.
    uniqueIndex("tasks_channel_template").on(t.channelId, t.templateName),
  ],
);

export const runs = sqliteTable(
  "runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    taskId: integer("task_id").references(() => tasks.id, { onDelete: "set null" }),
    channelId: text("channel_id")
      .notNull()
      .references(() => channels.id, { onDelete: "cascade" }),
    trigger: text("trigger", { enum: RUN_TRIGGERS }).notNull(),
    status: text("status", { enum: RUN_STATUSES }).notNull().default("queued"),
    prompt: text("prompt").notNull(),
    scheduledFor: integer("scheduled_for", { mode: "number" }),
    // How late the occurrence fired, and how many were collapsed into it.
    lateMs: integer("late_ms"),
    missedCount: integer("missed_count").notNull().default(0),
    // "alarm" or "sweep" for scheduled runs: health reports how often the sweep rescued one.
    firedBy: text("fired_by", { enum: FIRED_BY }),
    attempt: integer("attempt").notNull().default(1),
    createdAt: createdAt(),
    startedAt: integer("started_at", { mode: "number" }),
    finishedAt: integer("finished_at", { mode: "number" }),
    resultText: text("result_text"),
    error: text("error"),
    sessionId: text("session_id"),
    // input_tokens counts cache reads and writes too; these say how much of it they were.
    inputTokens: integer("input_tokens"),
    outputTokens: integer("output_tokens"),
    cacheReadTokens: integer("cache_read_tokens"),
    cacheWriteTokens: integer("cache_write_tokens"),
    costUsd: real("cost_usd"),
    exitCode: integer("exit_code"),
    model: text("model"),
    runnerId: text("runner_id"),
    // Who asked for it: "discord:<user id>", an API token id, "run:<id>"; null for schedules.
    requestedBy: text("requested_by"),
    // Loop iterations (docs/loops.md): the loop, the iteration's number from 1, and what the
    // loop's monitor command printed before this iteration's claude (when it ran).
    loopId: integer("loop_id").references((): AnySQLiteColumn => loops.id, { onDelete: "set null" }),
    iteration: integer("iteration"),
    monitorOutput: text("monitor_output"),
    monitorExitCode: integer("monitor_exit_code"),
    monitorAt: integer("monitor_at", { mode: "number" }),
    // The Discord message that asked for it (the relay); unique, so a message is one run.
    discordMessageId: text("discord_message_id"),
    // Approvals (issue 13): how many times the run stopped at a held call, the one it waits
    // on now, when that wait expires, and the decision its resume job carries.
    deferrals: integer("deferrals").notNull().default(0),
    pendingApproval: text("pending_approval", { mode: "json" }).$type<PendingApprovalRow>(),
    approvalExpiresAt: integer("approval_expires_at", { mode: "number" }),
    approvalDecision: text("approval_decision", { mode: "json" }).$type<ApprovalDecisionRow>(),
  },
  // D1 bills every index entry a write makes as a row written (issue 15): an index holds only
  // the runs its queries ask for (migration 0009; docs/storage.md lists who uses which). A
  // query uses a partial index only when its WHERE implies the index's: `col = ?` implies
  // `col IS NOT NULL`; a condition on a literal is best written as that literal (see
  // db/run-lookups.ts, which holds those queries).
  // An upsert into a partial unique index names its WHERE in the conflict target.
  (t) => [
    // One run per occurrence: a doubled alarm or a racing sweep cannot start it twice.
    uniqueIndex("runs_task_occurrence").on(t.taskId, t.scheduledFor).where(sql`${t.taskId} IS NOT NULL`),
    index("runs_channel_created").on(t.channelId, t.id),
    // Runs by status, and the next queued run of a channel (ChannelSession). Succeeded runs,
    // most of them, are left out: a listing of those walks ids backwards and finds them at once.
    index("runs_status").on(t.status, t.channelId).where(sql`${t.status} <> 'succeeded'`),
    // Occurrences the sweep had to fire itself (health).
    index("runs_rescued").on(t.createdAt).where(sql`${t.firedBy} = 'sweep'`),
    // One run per iteration: a doubled wake-up can never start an iteration twice.
    uniqueIndex("runs_loop_iteration").on(t.loopId, t.iteration).where(sql`${t.loopId} IS NOT NULL`),
    // Spend is counted by when runs finished; cost_usd in the index keeps the sums index-only.
    index("runs_finished").on(t.finishedAt, t.costUsd).where(sql`${t.finishedAt} IS NOT NULL`),
    index("runs_channel_finished").on(t.channelId, t.finishedAt, t.costUsd).where(sql`${t.finishedAt} IS NOT NULL`),
    uniqueIndex("runs_discord_message").on(t.discordMessageId).where(sql`${t.discordMessageId} IS NOT NULL`),
    index("runs_approval_expires").on(t.approvalExpiresAt).where(sql`${t.approvalExpiresAt} IS NOT NULL`),
  ],
);

export const runEvents = sqliteTable(
  "run_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    runId: integer("run_id")
      .notNull()
      .references(() => runs.id, { onDelete: "cascade" }),
    seq: integer("seq").notNull(),
    type: text("type").notNull(),
    payload: text("payload", { mode: "json" }).$type<unknown>().notNull(),
    at: integer("at", { mode: "number" }).notNull(),
  },
  (t) => [uniqueIndex("run_events_run_seq").on(t.runId, t.seq), index("run_events_at").on(t.at)],
);

export const apiTokens = sqliteTable(
  "api_tokens",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    // "admin", or the list of channel ids the token may touch.
    scope: text("scope", { mode: "json" }).$type<"admin" | string[]>().notNull(),
    expiresAt: integer("expires_at", { mode: "number" }),
    // Set for run-scoped tokens: minted when a run is leased, deleted when it ends.
    runId: integer("run_id"),
    lastUsedAt: integer("last_used_at", { mode: "number" }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("api_tokens_hash").on(t.tokenHash), index("api_tokens_run").on(t.runId)],
);

export const runners = sqliteTable(
  "runners",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    tokenHash: text("token_hash").notNull(),
    labels: text("labels", { mode: "json" }).$type<string[]>().notNull().default(sql`'[]'`),
    lastSeenAt: integer("last_seen_at", { mode: "number" }),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex("runners_name").on(t.name), uniqueIndex("runners_hash").on(t.tokenHash)],
);

export const templates = sqliteTable("templates", {
  name: text("name").primaryKey(),
  description: text("description").notNull().default(""),
  schedule: text("schedule").notNull(),
  type: text("type", { enum: TASK_TYPES }).notNull(),
  tz: text("tz"),
  prompt: text("prompt").notNull(),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
  autoDeleteSec: integer("auto_delete_sec").notNull().default(0),
});

/**
 * Dashboard sign-ins: a pasted token exchanged for a cookie. The row names the token it
 * stands for (deleting the token deletes its sessions) or, for the ADMIN_TOKEN secret, that
 * secret's SHA-256 (rotating the secret ends its sessions). `id` is the SHA-256 of the cookie.
 */
export const dashboardSessions = sqliteTable(
  "dashboard_sessions",
  {
    id: text("id").primaryKey(),
    tokenId: text("token_id").references(() => apiTokens.id, { onDelete: "cascade" }),
    adminDigest: text("admin_digest"),
    csrfToken: text("csrf_token").notNull(),
    expiresAt: integer("expires_at", { mode: "number" }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index("dashboard_sessions_token").on(t.tokenId), index("dashboard_sessions_expires").on(t.expiresAt)],
);

/** A loop (docs/loops.md): a prompt repeated as runs until it is done, stopped or out of iterations. */
export const loops = sqliteTable(
  "loops",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    channelId: text("channel_id")
      .notNull()
      .references(() => channels.id, { onDelete: "cascade" }),
    status: text("status", { enum: LOOP_STATUSES }).notNull().default("running"),
    prompt: text("prompt").notNull(),
    systemPrompt: text("system_prompt"),
    // 0: until stopped (still capped by MAX_LOOP_ITERATIONS).
    maxIterations: integer("max_iterations").notNull().default(0),
    // Start-to-start spacing of iterations; 0 runs them back to back.
    everyMs: integer("every_ms").notNull().default(0),
    freshSession: integer("fresh_session", { mode: "boolean" }).notNull().default(true),
    untilText: text("until_text"),
    monitorCommand: text("monitor_command"),
    // 0: the monitor runs before every iteration.
    monitorEveryMs: integer("monitor_every_ms").notNull().default(0),
    // The newest iteration created so far (0 before the first).
    iteration: integer("iteration").notNull().default(0),
    failuresInRow: integer("failures_in_row").notNull().default(0),
    // The loop's own Claude session when fresh_session is off; the channel's is left alone.
    sessionId: text("session_id"),
    // When the next iteration is due, while the loop waits out `every`.
    nextAt: integer("next_at", { mode: "number" }),
    // The iteration run whose agent called loop_done.
    doneRunId: integer("done_run_id"),
    endReason: text("end_reason", { enum: LOOP_END_REASONS }),
    summary: text("summary"),
    requestedBy: text("requested_by"),
    createdAt: createdAt(),
    endedAt: integer("ended_at", { mode: "number" }),
  },
  (t) => [
    index("loops_channel").on(t.channelId, t.id),
    // One running loop per channel: the unique index makes starting a second one a conflict.
    uniqueIndex("loops_channel_running").on(t.channelId).where(sql`${t.status} = 'running'`),
  ],
);

/** A channel's two memories (docs/loops.md), each capped at MAX_MEMORY_CHARS. */
export const channelMemory = sqliteTable("channel_memory", {
  channelId: text("channel_id")
    .primaryKey()
    .references(() => channels.id, { onDelete: "cascade" }),
  persistent: text("persistent").notNull().default(""),
  working: text("working").notNull().default(""),
  updatedAt: updatedAt(),
});

/**
 * Worktrees a deleted task left on runners: one row per runner that ran the task. The
 * runner asks for its rows (POST /runner/v1/worktrees/removals), removes the worktrees and
 * acknowledges, which deletes the rows. Kept in D1, so a runner that was down catches up.
 */
export const worktreeRemovals = sqliteTable(
  "worktree_removals",
  {
    taskId: integer("task_id").notNull(),
    runnerId: text("runner_id").notNull(),
    dirPath: text("dir_path").notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.runnerId] }), index("worktree_removals_runner").on(t.runnerId)],
);

/**
 * Discord threads to delete (a task's auto_delete_sec): written when a run's thread got its
 * final message, deleted by the minute sweep once delete_at has passed.
 */
export const threadDeletions = sqliteTable(
  "thread_deletions",
  {
    threadId: text("thread_id").primaryKey(),
    runId: integer("run_id"),
    deleteAt: integer("delete_at", { mode: "number" }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [index("thread_deletions_due").on(t.deleteAt)],
);

/** Spending caps in USD: scope "*" is the global one, any other scope a channel id. Null: no cap. */
export const GLOBAL_BUDGET_SCOPE = "*";
export const budgets = sqliteTable("budgets", {
  scope: text("scope").primaryKey(),
  dailyUsd: real("daily_usd"),
  monthlyUsd: real("monthly_usd"),
  updatedAt: updatedAt(),
});

/**
 * The 80 % warnings already posted: one per channel, cap and period. The unique key makes
 * the warning exactly-once (insert-or-nothing decides who posts), never check-then-act.
 */
export const budgetWarnings = sqliteTable(
  "budget_warnings",
  {
    // "channel:daily", "global:monthly", …
    scope: text("scope").notNull(),
    // The period's UTC key: "2026-11-29" or "2026-11".
    period: text("period").notNull(),
    channelId: text("channel_id").notNull(),
    spentUsd: real("spent_usd").notNull(),
    capUsd: real("cap_usd").notNull(),
    at: integer("at", { mode: "number" }).notNull(),
  },
  (t) => [uniqueIndex("budget_warnings_once").on(t.channelId, t.scope, t.period)],
);

/**
 * Spend per UTC day, per channel and in total (scope "*"), for the budget check before every
 * run (issue 14): reading a day is one row and a month at most 31, where summing runs reads
 * every run of the period. Never written by the Worker: triggers on `runs` (migration 0007)
 * keep it equal to the sum of cost_usd of the runs that finished that day, on insert, on the
 * update that finishes a run and on delete, in the same statement as the change.
 */
export const spendDays = sqliteTable(
  "spend_days",
  {
    // A channel id, or GLOBAL_BUDGET_SCOPE for every channel.
    scope: text("scope").notNull(),
    // The UTC day's first millisecond.
    day: integer("day", { mode: "number" }).notNull(),
    costUsd: real("cost_usd").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.scope, t.day] })],
);

/**
 * The last "you may not use Loop here" reply per user and channel: a conditional upsert on
 * this key lets at most one through a minute (worker/relay/notices.ts).
 */
export const discordNotices = sqliteTable(
  "discord_notices",
  {
    userId: text("user_id").notNull(),
    channelId: text("channel_id").notNull(),
    at: integer("at", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.channelId] })],
);

/**
 * The conversation relay's holder, mirrored from the Dispatcher's `relay_lease` (the truth)
 * when the holder changes, so /loop status reads it with the channel in one D1 round trip
 * (durable-objects/relay-mirror.ts). At most one row, `id` = 1.
 */
export const relayHolder = sqliteTable("relay_holder", {
  id: integer("id", { mode: "number" }).primaryKey(),
  runnerId: text("runner_id").notNull(),
  runnerName: text("runner_name"),
  instance: text("instance").notNull(),
  acquiredAt: integer("acquired_at", { mode: "number" }).notNull(),
});

export type ChannelRow = typeof channels.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type RunRow = typeof runs.$inferSelect;
export type RunEventRow = typeof runEvents.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;
export type RunnerRow = typeof runners.$inferSelect;
export type TemplateRow = typeof templates.$inferSelect;
export type DashboardSessionRow = typeof dashboardSessions.$inferSelect;
export type LoopRow = typeof loops.$inferSelect;
export type ChannelMemoryRow = typeof channelMemory.$inferSelect;
export type RelayHolderRow = typeof relayHolder.$inferSelect;
