/**
 * /loop ask and /loop stop (and the Stop button, which shares stopRun).
 *
 * Asking answers "deferred" at once, reading nothing stored, and after the answer makes one
 * call to the channel's ChannelSession (ask), which finds the channel, queues the run as
 * every run is queued (ChannelSession.queueRun), and turns the deferred response into the run's
 * live message. Refusals and failures found there replace the deferred response; should the
 * call itself fail, the Worker says so there.
 */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { ASK_FAILED, sessionOf } from "../../../durable-objects/contracts.ts";
import { activeRun, cancelRun, loadRun } from "../../../core/domain/runs.ts";
import { log } from "../../../core/log.ts";
import type { Access } from "../access.ts";
import { snowflakeTime } from "../interaction-payload.ts";
import { INTERACTION_TOKEN_TTL_MS } from "../../../core/discord/live-state.ts";
import { ephemeral } from "../reply.ts";
import { channelLoop, stopLoopAs } from "./loops.ts";
import { discordRest } from "../../../core/discord/rest.ts";
import type { CommandSpec, DeferredInput } from "./types.ts";

/** Any member may ask, and nothing stored can refuse it: answered before anything is read. */
export const ask: CommandSpec<"ask"> = {
  owners: null,
  afterDeferral: queueAsk,
};

async function queueAsk({ place, userId, options, interaction, env, cfg }: DeferredInput<"ask">): Promise<void> {
  const target = {
    kind: "interaction" as const,
    appId: interaction.application_id,
    token: interaction.token,
    channelId: place.channelId,
    // The token's 15 minutes run from the interaction's creation, which its id encodes.
    expiresAt: snowflakeTime(interaction.id) + INTERACTION_TOKEN_TTL_MS,
  };
  try {
    await sessionOf(env, place.channelId).ask({ place, userId, prompt: options.prompt, target });
  } catch (err) {
    // The session reports what fails inside it; this is the call itself failing (the object
    // could not be reached, or was reset mid-call): the asker still learns of it.
    log.error("discord: an ask could not reach its channel's session", { channelId: place.channelId, error: String(err) });
    const res = await discordRest(cfg).editOriginal(target.appId, target.token, { content: `⚠️ ${ASK_FAILED}`, allowed_mentions: { parse: [] } });
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
