/** Every /loop subcommand, who may run it, and the one path a command takes through them. */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Subcommand } from "../../../protocol/discord-commands.ts";
import { ownersOnly, type Access } from "../access.ts";
import type { CommandCall, Interaction } from "../interaction-payload.ts";
import { parseOptions } from "../options.ts";
import type { Config } from "../../../core/env.ts";
import { log } from "../../../core/log.ts";
import { deferred, ephemeral } from "../reply.ts";
import { discordRest } from "../../../core/discord/rest.ts";
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
 * Deferred work starts this long after the answer is returned. Started at once, its D1 and
 * Durable Object round trips share the isolate with writing the answer out and delay it
 * (bench/interactions.ts under `wrangler dev`: ask p50 9 ms instead of 20 ms); nothing is
 * lost by waiting, as the live message's first edit waits for Discord anyway.
 */
const AFTER_ANSWER_MS = 10;

/**
 * The one path a subcommand takes. Answering ones: permission first (so members learn they
 * cannot before fixing options), then options, then the handler. Deferred ones: options
 * (no I/O), the deferral, and after it access, permission and the work; a refusal found
 * then replaces the deferred reply.
 */
export async function answerCommand<P extends Subcommand>(
  call: CommandCall & { path: P },
  interaction: Interaction,
  cfg: Config,
  resolve: () => Promise<Access | string>,
  later: (work: Promise<unknown>) => void,
): Promise<APIInteractionResponse> {
  const spec = COMMAND_TABLE[call.path] as CommandSpec<P>;
  if ("afterDeferral" in spec) {
    const options = parseOptions(call.path, call.options);
    later(
      new Promise((r) => setTimeout(r, AFTER_ANSWER_MS)).then(async () => {
        const access = await resolve();
        const refusal = typeof access === "string" ? access : spec.owners && !access.isOwner ? ownersOnly(access, spec.owners) : null;
        if (refusal === null) return spec.afterDeferral({ access: access as Access, options, interaction });
        const res = await discordRest(cfg).editOriginal(interaction.application_id, interaction.token, { content: refusal, allowed_mentions: { parse: [] } });
        if (!res.ok) log.error("discord: could not report a refusal", { status: res.status, message: res.message });
      }),
    );
    return deferred();
  }
  const access = await resolve();
  if (typeof access === "string") return ephemeral(access);
  if (spec.owners && !access.isOwner) return ephemeral(ownersOnly(access, spec.owners));
  const options = parseOptions(call.path, call.options);
  return spec.run({ access, options, raw: call.options, interaction, later });
}
