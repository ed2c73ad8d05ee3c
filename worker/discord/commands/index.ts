/** Every /loop subcommand, who may run it, and the one path a command takes through them. */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Subcommand } from "../../../protocol/discord-commands.ts";
import { ownersOnly, type Access } from "../access.ts";
import type { CommandCall, Interaction } from "../interaction.ts";
import { parseOptions } from "../options.ts";
import { ephemeral } from "../reply.ts";
import { dir, ownerAdd, ownerList, ownerRemove, sessionReset, status, templateAdd, templateList } from "./channel.ts";
import { ask, stop } from "./runs.ts";
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
};

/** Permission first (so members learn they cannot before fixing options), then options, then the handler. */
export async function runCommand<P extends Subcommand>(
  call: CommandCall & { path: P },
  access: Access,
  interaction: Interaction,
  later: (work: Promise<unknown>) => void,
): Promise<APIInteractionResponse> {
  const spec = COMMAND_TABLE[call.path] as CommandSpec<P>;
  if (spec.owners && !access.isOwner) return ephemeral(ownersOnly(access, spec.owners));
  const options = parseOptions(call.path, call.options);
  return spec.run({ access, options, raw: call.options, interaction, later });
}
