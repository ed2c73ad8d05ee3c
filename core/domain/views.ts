/** Storage rows → the public shapes in protocol/api.ts (ISO times, snake_case). */
import type { ApiToken, Channel, Run, RunEvent, Task } from "../../protocol/api.ts";
import type { PendingApproval } from "../../protocol/policy.ts";
import type { ApiTokenRow, ChannelRow, RunEventRow, RunRow, TaskRow } from "../db/schema.ts";
import { approvalTimeoutMs, policyOf } from "./policy.ts";

export const iso = (ms: number | null | undefined): string | null => (ms == null ? null : new Date(ms).toISOString());
const isoNow = (ms: number): string => new Date(ms).toISOString();

export function taskView(t: TaskRow): Task {
  return {
    id: t.id,
    channel_id: t.channelId,
    schedule: t.schedule,
    type: t.type,
    tz: t.tz,
    prompt: t.prompt,
    enabled: t.enabled,
    next_run_at: iso(t.nextRunAt),
    last_run_at: iso(t.lastRunAt),
    template_name: t.templateName,
    auto_delete_sec: t.autoDeleteSec,
    worktree: t.worktree,
    origin_branch: t.originBranch,
    update_before_run: t.updateBeforeRun,
    permission_policy: t.permissionPolicy ? policyOf(t.permissionPolicy) : null,
    created_at: isoNow(t.createdAt),
    updated_at: isoNow(t.updatedAt),
  };
}

export function channelView(c: ChannelRow): Channel {
  return {
    id: c.id,
    discord_channel_id: c.discordChannelId,
    guild_id: c.guildId,
    name: c.name,
    dir_path: c.dirPath,
    parent_id: c.parentId,
    session_id: c.sessionId,
    runner_label: c.runnerLabel,
    permission_policy: policyOf(c.permissionPolicy),
    created_at: isoNow(c.createdAt),
    updated_at: isoNow(c.updatedAt),
  };
}

export function runView(r: RunRow): Run {
  return {
    id: r.id,
    task_id: r.taskId,
    channel_id: r.channelId,
    trigger: r.trigger,
    status: r.status,
    prompt: r.prompt,
    scheduled_for: iso(r.scheduledFor),
    late_ms: r.lateMs,
    missed_count: r.missedCount,
    attempt: r.attempt,
    created_at: isoNow(r.createdAt),
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    result_text: r.resultText,
    error: r.error,
    session_id: r.sessionId,
    input_tokens: r.inputTokens,
    output_tokens: r.outputTokens,
    cache_read_tokens: r.cacheReadTokens,
    cache_write_tokens: r.cacheWriteTokens,
    cost_usd: r.costUsd,
    exit_code: r.exitCode,
    model: r.model,
    loop_id: r.loopId,
    iteration: r.iteration,
    pending_approval: pendingView(r),
  };
}

function pendingView(r: RunRow): PendingApproval | null {
  const p = r.pendingApproval;
  if (r.status !== "waiting_approval" || !p) return null;
  return {
    deferral: p.deferral,
    tool_use_id: p.toolUseId,
    tool_name: p.toolName,
    input: p.input,
    requested_at: isoNow(p.requestedAt),
    expires_at: isoNow(r.approvalExpiresAt ?? p.requestedAt + approvalTimeoutMs(null)),
  };
}

export function runEventView(e: RunEventRow): RunEvent {
  return { seq: e.seq, type: e.type, payload: e.payload, at: isoNow(e.at) };
}

export function tokenView(t: ApiTokenRow): ApiToken {
  return {
    id: t.id,
    name: t.name,
    scope: t.scope,
    expires_at: iso(t.expiresAt),
    last_used_at: iso(t.lastUsedAt),
    created_at: isoNow(t.createdAt),
  };
}
