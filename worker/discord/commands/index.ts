/** Every /loop subcommand, who may run it, and the one path a command takes through them. */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Subcommand } from "../../../protocol/discord-commands.ts";
import { ownersOnly, placeOf, type Access } from "../access.ts";
import type { CommandCall, Interaction } from "../interaction-payload.ts";
import { parseOptions } from "../options.ts";
import type { Config, Env } from "../../../core/env.ts";
import { deferred, ephemeral } from "../reply.ts";
import { dir, ownerAdd, ownerList, ownerRemove, sessionReset, status, templateAdd, templateList } from "./channel.ts";
import { loop, memoryClear, memorySet, memoryShow } from "./loops.ts";
import { policy } from "./policy.ts";
import { ask, stop } from "./runs.ts";
import { budget, usage } from "./spend.ts";
import { cancel, edit, schedule, task, tasks, toggle } from "./tasks.ts";
import type { CommandSpec, CommandTable } from "./types.ts";

export const COMMAND_TABLE: CommandTable = {
  ask,
  stop,
  schedule,
  tasks,
  task,
  cancel,
  toggle,
  edit,
  status,
  dir,
  "template add": templateAdd,
  "template list": templateList,
  "session reset": sessionReset,
  "owner add": ownerAdd,
  "owner remove": ownerRemove,
  "owner list": ownerList,
  loop,
  "memory show": memoryShow,
  "memory set": memorySet,
  "memory clear": memoryClear,
  policy,
  usage,
  budget,
};

/**
 * Deferred work starts this long after the answer is returned. Started at once, its Durable
 * Object call shares the isolate with writing the answer out and delays it (under `wrangler
 * dev`, where the object runs in the same process); nothing is lost by waiting, as the live
 * message's first edit waits for Discord anyway.
 */
const AFTER_ANSWER_MS = 10;

/**
 * The one path a subcommand takes. Answering ones: permission first (so members learn they
 * cannot before fixing options), then options, then the handler. Deferred ones: options and
 * the payload's place (no I/O), the deferral, and after it the work, which resolves the
 * channel where it runs; a refusal found then replaces the deferred reply.
 */
export async function answerCommand<P extends Subcommand>(
  call: CommandCall & { path: P },
  interaction: Interaction,
  env: Env,
  cfg: Config,
  resolve: () => Promise<Access | string>,
  later: (work: Promise<unknown>) => void,
): Promise<APIInteractionResponse> {
  const spec = COMMAND_TABLE[call.path] as CommandSpec<P>;
  if ("afterDeferral" in spec) {
    const options = parseOptions(call.path, call.options);
    const from = placeOf(interaction);
    if (typeof from === "string") return ephemeral(from);
    later(new Promise((r) => setTimeout(r, AFTER_ANSWER_MS)).then(() => spec.afterDeferral({ ...from, options, interaction, env, cfg })));
    return deferred();
  }
  const access = await resolve();
  if (typeof access === "string") return ephemeral(access);
  if (spec.owners && !access.isOwner) return ephemeral(ownersOnly(access, spec.owners));
  const options = parseOptions(call.path, call.options);
  return spec.run({ access, options, raw: call.options, interaction, later });
}
