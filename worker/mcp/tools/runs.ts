/** Run tools: run a task (or a prompt) now, and read run history. Same domain functions as /api/runs. */
import { z } from "zod";
import { CreateRun, Run, RunEvent, RunStatus } from "../../../protocol/api.ts";
import { createRun, getRunWithEvents, listRuns, loadRun, runTaskNow } from "../../../core/domain/runs.ts";
import { runView } from "../../../core/domain/views.ts";
import { invalid } from "../../../core/errors.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";
import { TaskId } from "./tasks.ts";
import { cut } from "../../../core/text.ts";

/** list_runs trims each result to this many characters: twenty full results would flood a model's context. get_run has the whole text. */
export const LIST_RESULT_CHARS = 500;
const MAX_EVENTS = 200;

const runLine = (r: Run): string =>
  `#${r.id} ${r.status} (${r.trigger}${r.task_id ? `, task ${r.task_id}` : ""}) created ${r.created_at}: ${r.prompt.slice(0, 80)}`;

const trimmed = (r: Run): Run =>
  r.result_text ? { ...r, result_text: cut(r.result_text, LIST_RESULT_CHARS + 1) } : r;

export const runTools: LoopTool[] = [
  defineTool(
    "run_task",
    {
      title: "Run now",
      description:
        "Queue a run now: give task_id to run that task's prompt outside its schedule, or prompt to run any prompt on the channel. It starts when the channel's current run (if any) has finished.",
      inputSchema: {
        task_id: TaskId.optional(),
        prompt: CreateRun.shape.prompt.optional().describe("A prompt to run now (instead of task_id)."),
        ...ChannelArgs,
      },
      outputSchema: Run.shape,
    },
    async ({ ctx, scope }, args) => {
      let run: Run;
      if (args.task_id !== undefined) {
        if (args.prompt !== undefined) throw invalid("give task_id (run that task now) or prompt (run this prompt now), not both.", "task_id");
        if (args.channel_id || args.dir_path) throw invalid("channel_id and dir_path do not apply with task_id: a task runs on its own channel.", "channel_id");
        run = await runTaskNow(ctx, args.task_id, "mcp");
      } else if (args.prompt !== undefined) {
        run = await createRun(ctx, { channel_id: await targetChannel(ctx, scope, args), prompt: args.prompt }, "mcp");
      } else {
        throw invalid("give task_id (run that task now) or prompt (run this prompt now).", "task_id");
      }
      return structured(`Run ${run.id} queued on channel ${run.channel_id}.`, run);
    },
  ),

  defineTool(
    "list_runs",
    {
      title: "List runs",
      description: `List the channel's runs, newest first. Results are trimmed to ${LIST_RESULT_CHARS} characters; get_run shows one in full.`,
      inputSchema: {
        ...ChannelArgs,
        task_id: TaskId.optional().describe("Only runs of this task."),
        status: RunStatus.optional().describe("Only runs in this state."),
        limit: z.number().int().min(1).max(50).default(20).describe("How many runs (1-50, default 20)."),
        before: z.number().int().positive().optional().describe("Only runs with a smaller id: pass the last id seen to page."),
      },
      outputSchema: { runs: z.array(Run) },
      annotations: { readOnlyHint: true },
    },
    async ({ ctx, scope }, args) => {
      const channel_id = await targetChannel(ctx, scope, args);
      const runs = (await listRuns(ctx, { channel_id, task_id: args.task_id, status: args.status, limit: args.limit, before: args.before })).map(trimmed);
      return structured(runs.length ? runs.map(runLine).join("\n") : "No runs.", { runs });
    },
  ),

  defineTool(
    "get_run",
    {
      title: "Get a run",
      description: "One run in full: status, result text, error, usage and cost; optionally its latest events (what the agent said and which tools it used).",
      inputSchema: {
        run_id: z.number().int().positive().describe("The run's id."),
        events: z.number().int().min(0).max(MAX_EVENTS).default(0).describe(`How many of its latest events to include (0-${MAX_EVENTS}, default 0).`),
      },
      outputSchema: Run.extend({ events: z.array(RunEvent).optional() }).shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx }, { run_id, events }) => {
      if (events === 0) {
        const run = runView(await loadRun(ctx, run_id));
        return structured(runLine(run), run);
      }
      const run = await getRunWithEvents(ctx, run_id);
      return structured(runLine(run), { ...run, events: run.events.slice(-events) });
    },
  ),
];
