/**
 * The original Loop's task tools, with its names and argument shapes (schedule, type,
 * prompt, task_id, enabled, template_name, auto_delete_sec, worktree, origin_branch,
 * update_before_run), plus tz for cron. Each calls the same domain function as the
 * REST route, so a rule (schedule grammar, minimum interval, visibility) lives in one place.
 */
import { z } from "zod";
import { CreateTask, ScheduleText, Task, TaskWithPreview, UpdateTask } from "../../../protocol/api.ts";
import { createTask, deleteTask, getTask, listTasks, updateTask } from "../../../core/domain/tasks.ts";
import { invalid } from "../../../core/errors.ts";
import { structured, text } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";
import { cut } from "../../../core/text.ts";

export const TaskId = z.number().int().positive().describe("The task's id, as list_tasks shows it.");

const Schedule = ScheduleText.describe(
  'cron: 5 fields, e.g. "0 9 * * 1-5"; interval: a duration, e.g. "30m" or "1h30m"; once: an RFC 3339 time with offset, e.g. "2026-12-01T09:00:00Z", or "in 10m". Ignored (leave empty) for manual tasks.',
);
const Type = CreateTask.shape.type.describe("Task type: cron, interval, once, or manual (manual tasks have no schedule and only run when triggered with run_task).");
const Prompt = CreateTask.shape.prompt.describe("What the agent is asked to do each time the task fires.");
const Tz = CreateTask.shape.tz.describe('IANA time zone for a cron schedule, e.g. "Europe/Berlin" (default UTC). Cron only.');
/** The original's option arguments, described as its schedule_task describes them. */
const Options = {
  auto_delete_sec: UpdateTask.shape.auto_delete_sec.describe("Seconds after a run ends to delete its Discord thread (0 = keep it)."),
  worktree: UpdateTask.shape.worktree.describe("If true, run the task in its own git worktree instead of the channel's directory."),
  origin_branch: UpdateTask.shape.origin_branch.describe("Git branch to base the worktree on (default: the directory's HEAD branch). Worktree tasks only."),
  update_before_run: UpdateTask.shape.update_before_run.describe("If true, fetch and fast-forward the worktree to its branch on origin before each run. Worktree tasks only."),
};

/** list_tasks trims each prompt to this many characters (a prompt may hold 32,000); show_task has the whole text. */
export const LIST_PROMPT_CHARS = 300;
// LIST_PROMPT_CHARS of the prompt are kept, then the ellipsis.
const trimmed = (t: Task): Task => ({ ...t, prompt: cut(t.prompt, LIST_PROMPT_CHARS + 1) });

const optionsText = (t: Task): string =>
  [
    t.template_name ? ` template_name: ${t.template_name}` : "",
    t.auto_delete_sec ? ` auto_delete: ${t.auto_delete_sec}s` : "",
    t.worktree ? ` worktree${t.origin_branch ? ` branch: ${t.origin_branch}` : ""}${t.update_before_run ? " update_before_run" : ""}` : "",
  ].join("");

const taskLine = (t: Task): string =>
  `#${t.id} ${t.enabled ? "enabled" : "disabled"} ${t.type}${t.type === "manual" ? "" : ` "${t.schedule}"`}${t.tz ? ` ${t.tz}` : ""}${optionsText(t)} next ${t.next_run_at ?? (t.type === "manual" ? "on demand (run_task)" : "never")}: ${t.prompt.slice(0, 80)}`;

export const taskTools: LoopTool[] = [
  defineTool(
    "schedule_task",
    {
      title: "Schedule a task",
      description:
        "Create a scheduled task on the channel: a prompt that runs as an agent on a cron schedule, at an interval, once, or only on demand (manual). For 'once', check the user's local time first to get the offset right.",
      inputSchema: {
        ...ChannelArgs,
        schedule: Schedule.optional(),
        type: Type,
        prompt: Prompt,
        tz: Tz,
        template_name: CreateTask.shape.template_name.describe("Optional template name to associate with this task (for identification and deduplication)."),
        ...Options,
      },
      outputSchema: TaskWithPreview.shape,
    },
    async ({ ctx, scope }, args) => {
      const channel_id = await targetChannel(ctx, scope, args);
      const { channel_id: _c, dir_path: _d, ...rest } = args;
      const task = await createTask(ctx, { ...rest, schedule: rest.schedule ?? "", channel_id });
      const when = task.type === "manual" ? "it runs only when triggered (run_task)" : `next runs: ${task.preview.join(", ") || "none"}`;
      return structured(`Task scheduled (ID: ${task.id}); ${when}.`, task);
    },
  ),

  defineTool(
    "list_tasks",
    {
      title: "List tasks",
      description: `List the channel's scheduled tasks, newest first. Prompts are trimmed to ${LIST_PROMPT_CHARS} characters; show_task has the whole prompt.`,
      inputSchema: ChannelArgs,
      outputSchema: { tasks: z.array(Task) },
      annotations: { readOnlyHint: true },
    },
    async ({ ctx, scope }, args) => {
      const tasks = (await listTasks(ctx, await targetChannel(ctx, scope, args))).map(trimmed);
      const summary = tasks.length ? tasks.map(taskLine).join("\n") : "No scheduled tasks.";
      return structured(summary, { tasks });
    },
  ),

  defineTool(
    "show_task",
    {
      title: "Show a task",
      description: "Show one task in full, including its whole prompt and its next occurrences.",
      inputSchema: { task_id: TaskId },
      outputSchema: TaskWithPreview.shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx }, { task_id }) => {
      const task = await getTask(ctx, task_id);
      return structured(taskLine(task), task);
    },
  ),

  defineTool(
    "cancel_task",
    {
      title: "Cancel a task",
      description: "Delete a scheduled task by its ID. Runs it already started are not affected.",
      inputSchema: { task_id: TaskId },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    async ({ ctx }, { task_id }) => {
      await deleteTask(ctx, task_id);
      return text(`Task ${task_id} cancelled.`);
    },
  ),

  defineTool(
    "toggle_task",
    {
      title: "Enable or disable a task",
      description: "Enable (true) or disable (false) a scheduled task by its ID. Re-enabling computes its next occurrence from now.",
      inputSchema: { task_id: TaskId, enabled: z.boolean().describe("true to enable, false to disable.") },
      outputSchema: TaskWithPreview.shape,
      annotations: { idempotentHint: true },
    },
    async ({ ctx }, { task_id, enabled }) => {
      const task = await updateTask(ctx, task_id, { enabled });
      return structured(`Task ${task_id} ${enabled ? "enabled" : "disabled"}.`, task);
    },
  ),

  defineTool(
    "edit_task",
    {
      title: "Edit a task",
      description: "Change a task's schedule, type, prompt, tz and/or options. Changing type needs a new schedule too (except to manual).",
      inputSchema: {
        task_id: TaskId,
        schedule: Schedule.optional(),
        type: Type.optional(),
        prompt: Prompt.optional(),
        tz: UpdateTask.shape.tz.describe("IANA time zone for a cron schedule; null clears it."),
        ...Options,
      },
      outputSchema: TaskWithPreview.shape,
    },
    async ({ ctx }, { task_id, ...changes }) => {
      const patch = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
      if (!Object.keys(patch).length) throw invalid("nothing to change: give schedule, type, prompt, tz, auto_delete_sec, worktree, origin_branch or update_before_run.");
      // Each field was checked against the REST schema's own parts; updateTask owns the rest.
      const task = await updateTask(ctx, task_id, patch);
      return structured(`Task ${task_id} updated.`, task);
    },
  ),
];
