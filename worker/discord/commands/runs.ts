/**
 * /loop ask and /loop stop (and the Stop button, which shares stopRun).
 *
 * Asking answers "deferred" at once and queues the run after the response (waitUntil):
 * the run goes through the domain's createRun, and the interaction is handed to the
 * channel's ChannelSession, which turns the deferred response into the run's live
 * message. Should queuing fail, the deferred response is edited to say why.
 */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Run } from "../../../protocol/api.ts";
import { activeRun, cancelRun, createRun, loadRun } from "../../../core/domain/runs.ts";
import { AppError } from "../../../core/errors.ts";
import { log } from "../../../core/log.ts";
import type { Access } from "../access.ts";
import { snowflakeTime, type Interaction } from "../interaction-payload.ts";
import { INTERACTION_TOKEN_TTL_MS } from "../../../core/discord/live-state.ts";
import { ephemeral } from "../reply.ts";
import { channelLoop, stopLoopAs } from "./loops.ts";
import { discordRest } from "../../../core/discord/rest.ts";
import type { CommandSpec } from "./types.ts";

/** Any member may ask, and nothing stored can refuse it: answered before anything is read. */
export const ask: CommandSpec<"ask"> = {
  owners: null,
  afterDeferral: ({ access, options, interaction }) => queueAsk(access, options.prompt, interaction),
};

async function queueAsk(access: Access, prompt: string, interaction: Interaction): Promise<void> {
  let run: Run | null = null;
  try {
    run = await createRun(access.ctx, { channel_id: access.channel, prompt }, "discord", {
      target: {
        kind: "interaction",
        appId: interaction.application_id,
        token: interaction.token,
        channelId: access.channel.discordChannelId!,
        // The token's 15 minutes run from the interaction's creation, which its id encodes.
        expiresAt: snowflakeTime(interaction.id) + INTERACTION_TOKEN_TTL_MS,
      },
      userId: access.userId,
    });
  } catch (err) {
    log.error("discord: ask failed after the deferral", { runId: run?.id, error: String(err) });
    const why = err instanceof AppError ? err.message : "Loop could not queue the run; it has been logged.";
    const content = run
      ? `Run #${run.id} is queued, but its live message could not be set up; follow it with \`GET /api/runs/${run.id}\`.`
      : `⚠️ ${why}`;
    const res = await discordRest(access.ctx.cfg).editOriginal(interaction.application_id, interaction.token, { content, allowed_mentions: { parse: [] } });
    if (!res.ok) log.error("discord: could not report the failure", { status: res.status, message: res.message });
  }
}

export const stop: CommandSpec<"stop"> = {
  owners: null,
  async run({ access }) {
    // A running loop is what "stop" means first: it ends, and its iteration with it.
    const running = await channelLoop(access);
    if (running) return stopLoopAs(access, running.id);
    const active = await activeRun(access.ctx, access.channel);
    if (!active) return ephemeral("Nothing is running or waiting in this channel.");
    return stopRun(access, active.id);
  },
};

/** Owners may stop any run; members only the runs they asked for. */
export async function stopRun(access: Access, runId: number): Promise<APIInteractionResponse> {
  const run = await loadRun(access.ctx, runId);
  if (!access.isOwner && run.requestedBy !== `discord:${access.userId}`) {
    return ephemeral(`🔒 Run #${runId} was not started by you; only its asker or this channel's owners can stop it.`);
  }
  const { outcome } = await cancelRun(access.ctx, runId);
  switch (outcome) {
    case "cancelled":
      return ephemeral(`⏹️ Run #${runId} was cancelled before it started.`);
    case "signalled":
      return ephemeral(`⏹️ Stopping run #${runId}: the runner stops it at its next heartbeat.`);
    case "already_finished":
      return ephemeral(`Run #${runId} has already finished.`);
  }
}
