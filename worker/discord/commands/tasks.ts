/** /loop schedule, tasks, task, cancel, toggle, edit: thin calls into core/domain/tasks.ts. */
import type { Run, Task, TaskWithPreview } from "../../../protocol/api.ts";
import { listRuns, runTaskNow } from "../../../core/domain/runs.ts";
import { createTask, deleteTask, getTask, listTasks, loadTask, previewTask, updateTask } from "../../../core/domain/tasks.ts";
import { AppError } from "../../../core/errors.ts";
import { discordTime, formatDuration, inlineCode, RUN_MARKS } from "../../../core/discord/format.ts";
import { parseEdit } from "../options.ts";
import { ephemeral, message } from "../reply.ts";
import type { CommandSpec } from "./types.ts";
import { cutLine } from "../../../core/text.ts";
import { MESSAGE_CONTENT_LIMIT } from "../../../protocol/discord-constants.ts";

const NEXT_COUNT = 5;
const LAST_RUNS = 5;

/** A task id that is not this channel's reads better in Discord than the REST wording. */
async function inChannel<T>(taskId: number, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (err instanceof AppError && err.code === "not_found") {
      throw new AppError(404, "not_found", `task #${taskId} is not one of this channel's tasks; \`/loop tasks\` lists them.`, "task_id");
    }
    throw err;
  }
}

export function scheduleText(t: Task): string {
  if (t.type === "manual") return "manual (runs with `/loop task run: True`)";
  return `${t.type} ${inlineCode(t.schedule)}${t.tz ? ` (${t.tz})` : ""}`;
}

/** The original's options, when any is set: "worktree from main · thread deleted after 60 s". */
function optionsText(t: Task): string | null {
  const parts = [
    t.worktree ? `🌿 worktree${t.origin_branch ? ` from ${inlineCode(t.origin_branch)}` : ""}${t.update_before_run ? ", updated before each run" : ""}` : null,
    t.auto_delete_sec ? `🧹 thread deleted ${t.auto_delete_sec} s after each run` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(" · ") : null;
}

function taskLine(t: Task): string {
  const state = t.enabled ? `next ${discordTime(t.next_run_at)}` : "paused";
  return `${t.enabled ? "✅" : "⏸️"} \`#${t.id}\` ${scheduleText(t)} · ${state} — ${cutLine(t.prompt, 80)}`;
}

function runLine(r: Run): string {
  const when = discordTime(r.finished_at ?? r.started_at ?? r.created_at);
  const took = r.started_at && r.finished_at ? ` · ${formatDuration(Date.parse(r.finished_at) - Date.parse(r.started_at))}` : "";
  const why = r.error && r.status !== "succeeded" ? ` — ${cutLine(r.error, 100)}` : "";
  return `${RUN_MARKS[r.status]} \`#${r.id}\` ${r.status} ${when}${took}${why}`;
}

function created(t: TaskWithPreview, verb: string): string {
  const next = t.preview.length ? `\nNext: ${t.preview.map((p) => discordTime(p, "f")).join(", ")}` : "";
  return `${verb} task \`#${t.id}\`: ${scheduleText(t)}\n> ${cutLine(t.prompt, 300)}${next}`;
}

/** Lines under a heading, cut to one message with a count of what did not fit. */
export function listMessage(heading: string, lines: string[]): string {
  let text = heading;
  for (let i = 0; i < lines.length; i++) {
    const more = `\n-# … and ${lines.length - i} more`;
    if (text.length + 1 + lines[i]!.length + more.length > MESSAGE_CONTENT_LIMIT) return text + more;
    text += `\n${lines[i]}`;
  }
  return text;
}

export const schedule: CommandSpec<"schedule"> = {
  owners: "schedule tasks",
  async run({ access, options }) {
    const task = await createTask(access.ctx, { ...options, channel_id: access.channel.id });
    return message(`⏰ ${created(task, "Scheduled")}`);
  },
};

export const tasks: CommandSpec<"tasks"> = {
  owners: null,
  async run({ access }) {
    const list = await listTasks(access.ctx, access.channel);
    if (!list.length) return ephemeral("No tasks in this channel yet. Add one with `/loop schedule`.");
    return ephemeral(listMessage(`**Tasks in this channel** (${list.length})`, list.map(taskLine)));
  },
};

export const task: CommandSpec<"task"> = {
  owners: null,
  async run({ access, options }) {
    const t = await inChannel(options.task_id, getTask(access.ctx, options.task_id));
    if (options.run) {
      const run = await runTaskNow(access.ctx, t.id, "discord");
      return message(`▶️ Running task \`#${t.id}\` now (run \`#${run.id}\`) — ${cutLine(t.prompt, 120)}`);
    }
    const extra = optionsText(t);
    const [next, runs] = await Promise.all([
      previewTask(access.ctx, t.id, NEXT_COUNT),
      listRuns(access.ctx, { task_id: t.id, limit: LAST_RUNS }),
    ]);
    const lines = [
      `**Task #${t.id}** ${t.enabled ? "✅ enabled" : "⏸️ paused"}${t.template_name ? ` · from template ${inlineCode(t.template_name)}` : ""}`,
      `Schedule: ${scheduleText(t)}`,
      ...(extra ? [`Options: ${extra}`] : []),
      `Prompt:\n> ${cutLine(t.prompt, 600)}`,
      `Next: ${next.length ? next.map((p) => discordTime(p, "f")).join(", ") : "—"}`,
      `Last run: ${discordTime(t.last_run_at)}`,
      runs.length ? `Recent runs:\n${runs.map(runLine).join("\n")}` : "Recent runs: none yet",
    ];
    return ephemeral(listMessage(lines[0]!, lines.slice(1)));
  },
};

export const cancel: CommandSpec<"cancel"> = {
  owners: "cancel tasks",
  async run({ access, options }) {
    const t = await inChannel(options.task_id, loadTask(access.ctx, options.task_id));
    await deleteTask(access.ctx, t.id);
    return message(`🗑️ Cancelled task \`#${t.id}\` (${t.type} ${inlineCode(t.schedule)}) — ${cutLine(t.prompt, 120)}`);
  },
};

export const toggle: CommandSpec<"toggle"> = {
  owners: "turn tasks on or off",
  async run({ access, options }) {
    const current = await inChannel(options.task_id, loadTask(access.ctx, options.task_id));
    const t = await updateTask(access.ctx, current.id, { enabled: !current.enabled });
    return message(t.enabled ? `▶️ Task \`#${t.id}\` is on: next ${discordTime(t.next_run_at)}.` : `⏸️ Task \`#${t.id}\` is paused.`);
  },
};

export const edit: CommandSpec<"edit"> = {
  owners: "edit tasks",
  async run({ access, options, raw }) {
    const t = await inChannel(options.task_id, updateTask(access.ctx, options.task_id, parseEdit(raw)));
    return message(`✏️ ${created(t, "Updated")}`);
  },
};
