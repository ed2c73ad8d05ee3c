/** Loop tools (docs/loops.md): start and stop a loop, read it, and the agent's loop_done. Same domain functions as /api/loops. */
import { z } from "zod";
import { Loop, LoopWithIterations, MAX_LOOP_ITERATIONS, StartLoop, type LoopWithIterations as LoopWithIterationsT } from "../../../protocol/api.ts";
import { getLoop, loopDone, runningLoop, startLoop, stopLoop } from "../../../core/domain/loops.ts";
import { invalid } from "../../../core/errors.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";

const LoopId = z.number().int().positive().describe("The loop's id.");
/** Iterations get_loop shows in full; older ones are only counted. */
const ITERATIONS_SHOWN = 20;

const loopLine = (l: Loop): string =>
  `Loop #${l.id} ${l.status}${l.end_reason ? ` (${l.end_reason})` : ""}, iteration ${l.iteration}${l.max_iterations ? `/${l.max_iterations}` : ""}: ${l.prompt.slice(0, 80)}`;

const s = StartLoop.shape;

export const loopTools: LoopTool[] = [
  defineTool(
    "start_loop",
    {
      title: "Start a loop",
      description:
        "Run a prompt again and again on the channel, each iteration a run that sees the previous answer, the channel's memory and a monitor command's output, " +
        "until an iteration calls loop_done, an answer contains `until`, or max_iterations is reached. One loop per channel at a time.",
      inputSchema: {
        prompt: s.prompt.describe("The prompt every iteration is given."),
        system_prompt: s.system_prompt.describe("Passed to claude as --append-system-prompt."),
        max_iterations: s.max_iterations.describe(`Stop after this many iterations (0 = until stopped, at most ${MAX_LOOP_ITERATIONS}).`),
        every: s.every.describe('Go duration between iteration starts, at least "1s" (e.g. "30s", "5m"); default back to back.'),
        fresh_session: s.fresh_session.describe("Start each iteration in a new Claude session (default true); false carries the session on."),
        until: s.until.describe("End the loop when an answer contains this text (case-insensitive)."),
        monitor_command: s.monitor_command.describe("A shell command run before each iteration in the project's container (no credentials); its output is in the prompt."),
        monitor_every: s.monitor_every.describe("Go duration: run the monitor at most this often (default before every iteration)."),
        ...ChannelArgs,
      },
      outputSchema: Loop.shape,
    },
    async ({ ctx, scope }, args) => {
      const { channel_id: _c, dir_path: _d, ...settings } = args;
      const loop = await startLoop(ctx, { ...settings, channel_id: await targetChannel(ctx, scope, args) }, "mcp");
      return structured(`Loop ${loop.id} started on channel ${loop.channel_id}; iteration 1 is queued.`, loop);
    },
  ),

  defineTool(
    "loop_done",
    {
      title: "Finish this loop",
      description: "Inside a loop iteration: say the loop's work is finished. The loop stops when this iteration ends; the summary is kept with the loop.",
      inputSchema: { summary: z.string().trim().min(1).max(2_000).describe("What was achieved, in a sentence or two.") },
      outputSchema: Loop.shape,
    },
    async ({ ctx }, { summary }) => {
      const loop = await loopDone(ctx, summary);
      return structured(`Loop ${loop.id} will stop when this iteration ends.`, loop);
    },
  ),

  defineTool(
    "stop_loop",
    {
      title: "Stop a loop",
      description: "Stop a loop now: its running iteration is cancelled and no further iteration starts. Without loop_id, the channel's running loop.",
      inputSchema: { loop_id: LoopId.optional(), ...ChannelArgs },
      outputSchema: Loop.shape,
    },
    async ({ ctx, scope }, args) => {
      let id = args.loop_id;
      if (id === undefined) {
        const running = await runningLoop(ctx, await targetChannel(ctx, scope, args));
        if (!running) throw invalid("no loop is running on this channel.", "loop_id");
        id = running.id;
      }
      const { loop, stopped } = await stopLoop(ctx, id);
      return structured(stopped ? `Loop ${loop.id} stopped.` : `Loop ${loop.id} had already ended (${loop.status}).`, loop);
    },
  ),

  defineTool(
    "get_loop",
    {
      title: "Get a loop",
      description: `A loop with its latest ${ITERATIONS_SHOWN} iterations: each one's status, answer and monitor output.`,
      inputSchema: { loop_id: LoopId },
      outputSchema: LoopWithIterations.shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx }, { loop_id }) => {
      const loop: LoopWithIterationsT = await getLoop(ctx, loop_id);
      return structured(loopLine(loop), { ...loop, iterations: loop.iterations.slice(-ITERATIONS_SHOWN) });
    },
  ),
];
