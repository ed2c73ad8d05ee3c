/**
 * Answers a verified interaction: PING, a /loop subcommand, an autocomplete request or a
 * button press. Nothing here waits on Discord's REST API: answers go back in the HTTP
 * response (within Discord's 3 seconds), and anything that waits on a runner is deferred
 * and finished by the channel's ChannelSession.
 */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { InteractionKind as Kind } from "../../protocol/discord-constants.ts";
import { COMMAND_NAME } from "../../protocol/discord-commands.ts";
import type { Db } from "../../core/db/client.ts";
import type { Config, Env } from "../../core/env.ts";
import { AppError } from "../../core/errors.ts";
import { log } from "../../core/log.ts";
import { resolveAccess } from "./access.ts";
import { listTasks } from "../../core/domain/tasks.ts";
import { listTasksOfDiscordChannel } from "../../core/domain/discord-channels.ts";
import { listTemplates } from "../../core/domain/templates.ts";
import { autocomplete } from "./autocomplete.ts";
import { answerCommand } from "./commands/index.ts";
import { handleComponent } from "./components.ts";
import { readCommand, type CommandCall, type Interaction } from "./interaction-payload.ts";
import { choices, ephemeral, errorReply, pong } from "./reply.ts";

export async function handleInteraction(
  db: Db,
  env: Env,
  cfg: Config,
  i: Interaction,
  later: (work: Promise<unknown>) => void,
): Promise<APIInteractionResponse> {
  if (i.type === Kind.Ping) return pong();
  const known = i.type === Kind.ApplicationCommand || i.type === Kind.ApplicationCommandAutocomplete;
  if (known && i.data?.name !== COMMAND_NAME) return ephemeral(`Loop only answers /${COMMAND_NAME}.`);

  let call: CommandCall | null = null;
  // /loop status reads its runs and tasks in the same D1 round trip as the channel.
  const resolve = () => resolveAccess(db, env, cfg, i, { preloadStatus: call?.path === "status" });
  try {
    switch (i.type) {
      case Kind.ApplicationCommand: {
        call = readCommand(i.data);
        if (!call) return ephemeral("That /loop subcommand is not one this Loop knows; re-register the commands with `loop discord register`.");
        return await answerCommand(call, i, env, cfg, resolve, later);
      }
      case Kind.ApplicationCommandAutocomplete: {
        call = readCommand(i.data);
        if (!call) return choices([]);
        const channelId = i.channel?.id ?? i.channel_id;
        const user = i.member?.user;
        if (i.guild_id && user && channelId) {
          // A server channel: its tasks straight from D1, keyed by the Discord id (one statement);
          // templates are shared by every channel. No channel row is created for a mere listing.
          const ctx = { db, env, cfg, actor: { kind: "channels" as const, tokenId: `discord:${user.id}`, channelIds: [] } };
          return choices(await autocomplete(call, { tasks: () => listTasksOfDiscordChannel(db, channelId), templates: () => listTemplates(ctx) }));
        }
        const access = await resolve();
        if (typeof access === "string") return choices([]);
        return choices(await autocomplete(call, { tasks: () => listTasks(access.ctx, access.channel), templates: () => listTemplates(access.ctx) }));
      }
      case Kind.MessageComponent: {
        const access = await resolve();
        if (typeof access === "string") return ephemeral(access);
        return await handleComponent(i.data?.custom_id ?? "", access);
      }
      default:
        return ephemeral("Loop does not handle this kind of interaction.");
    }
  } catch (err) {
    if (err instanceof AppError) {
      if (i.type === Kind.ApplicationCommandAutocomplete) return choices([]);
      return errorReply(err, call?.path ?? null);
    }
    log.error("discord: interaction failed", { type: i.type, path: call?.path, error: String(err), stack: (err as Error).stack });
    return ephemeral("⚠️ Something went wrong on Loop's side; it has been logged. Try again in a moment.");
  }
}
