/**
 * /loop loop, /loop memory show|set|clear, and stopping a loop (/loop stop and the loop
 * message's Stop button): thin calls into core/domain/loops.ts and memory.ts
 * (docs/loops.md). The loop's progress shows in its own live message, which the
 * ChannelSession posts and edits.
 */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { MEMORY_KINDS, type Loop, type Memory } from "../../../protocol/api.ts";
import { loadLoop, runningLoop, startLoop, stopLoop } from "../../../core/domain/loops.ts";
import { getMemory, setMemory } from "../../../core/domain/memory.ts";
import { formatInterval } from "../../../core/domain/schedule-grammar.ts";
import type { Access } from "../access.ts";
import { inlineCode } from "../../../core/discord/format.ts";
import { cutLine } from "../../../core/text.ts";
import { ephemeral, message } from "../reply.ts";
import type { CommandSpec } from "./types.ts";

function startedText(l: Loop): string {
  const parts = [
    l.max_iterations ? `up to ${l.max_iterations} iterations` : "until stopped",
    l.every_ms ? `every ${formatInterval(l.every_ms)}` : "back to back",
    ...(l.until ? [`until an answer says ${inlineCode(cutLine(l.until, 80))}`] : []),
    ...(l.monitor_command ? [`watching ${inlineCode(cutLine(l.monitor_command, 120))}`] : []),
  ];
  return `🔁 Loop #${l.id} started: ${parts.join(", ")}.\n> ${cutLine(l.prompt, 300)}\nThe agent ends it with \`loop_done\`; \`/loop stop\` ends it now.`;
}

export const loop: CommandSpec<"loop"> = {
  owners: "start loops",
  async run({ access, options }) {
    const { monitor, ...rest } = options;
    const started = await startLoop(access.ctx, { ...rest, channel_id: access.channel, monitor_command: monitor, fresh_session: true }, "discord");
    return message(startedText(started));
  },
};

const memoryText = (m: Memory): string =>
  MEMORY_KINDS.map((k) => `**${k === "persistent" ? "Persistent" : "Working"} memory** (${m[k].length} characters)\n${m[k] ? cutLine(m[k], 900) : "-# empty"}`).join("\n\n");

export const memoryShow: CommandSpec<"memory show"> = {
  owners: null,
  async run({ access }) {
    return ephemeral(memoryText(await getMemory(access.ctx, access.channel)));
  },
};

export const memorySet: CommandSpec<"memory set"> = {
  owners: "change the channel's memory",
  async run({ access, options }) {
    const m = await setMemory(access.ctx, access.channel, options.kind, options.text);
    return message(`🧠 ${options.kind === "persistent" ? "Persistent" : "Working"} memory set (${m[options.kind].length} characters).`);
  },
};

export const memoryClear: CommandSpec<"memory clear"> = {
  owners: "change the channel's memory",
  async run({ access, options }) {
    const kinds = options.kind ? [options.kind] : MEMORY_KINDS;
    for (const k of kinds) await setMemory(access.ctx, access.channel, k, "");
    return message(`🧠 Cleared ${kinds.length === 2 ? "both memories" : `${kinds[0]} memory`}.`);
  },
};

/** The channel's running loop, if any (/loop stop stops it before looking at single runs). */
export const channelLoop = (access: Access) => runningLoop(access.ctx, access.channel);

/** Owners may stop any loop; members only the loops they started. */
export async function stopLoopAs(access: Access, loopId: number): Promise<APIInteractionResponse> {
  const row = await loadLoop(access.ctx, loopId);
  if (!access.isOwner && row.requestedBy !== `discord:${access.userId}`) {
    return ephemeral(`🔒 Loop #${loopId} was not started by you; only its starter or this channel's owners can stop it.`);
  }
  const { loop: l, stopped } = await stopLoop(access.ctx, loopId);
  return ephemeral(stopped ? `⏹️ Loop #${l.id} stopped after ${l.iteration} iteration${l.iteration === 1 ? "" : "s"}; its running iteration is cancelled.` : `Loop #${l.id} has already ended (${l.status}).`);
}
