/**
 * Interaction responses (https://discord.com/developers/docs/interactions/receiving-and-responding#responding-to-an-interaction):
 * a message now (public or ephemeral), a deferral for anything that waits on a runner,
 * autocomplete choices, and errors as ephemeral messages that say what to do.
 */
import type { APIApplicationCommandOptionChoice, APIInteractionResponse } from "discord-api-types/v10";
import { Flags, MESSAGE_CONTENT_LIMIT, ResponseKind } from "../../protocol/discord-constants.ts";
import { EXAMPLES, type Subcommand } from "../../protocol/discord-commands.ts";
import { AppError } from "../../core/errors.ts";
import { cut } from "../../core/text.ts";

const NO_PINGS = { parse: [] as [] };

const fit = (text: string) => cut(text, MESSAGE_CONTENT_LIMIT);

export function message(content: string, opts: { ephemeral?: boolean } = {}): APIInteractionResponse {
  return {
    type: ResponseKind.ChannelMessageWithSource,
    data: { content: fit(content), allowed_mentions: NO_PINGS, ...(opts.ephemeral ? { flags: Flags.Ephemeral } : {}) },
  };
}

export const ephemeral = (content: string): APIInteractionResponse => message(content, { ephemeral: true });

/** "Loop is thinking…": the run's live message replaces it by editing @original. */
export const deferred = (): APIInteractionResponse => ({ type: ResponseKind.DeferredChannelMessageWithSource });

export const pong = (): APIInteractionResponse => ({ type: ResponseKind.Pong });

export function choices(list: APIApplicationCommandOptionChoice[]): APIInteractionResponse {
  return { type: ResponseKind.ApplicationCommandAutocompleteResult, data: { choices: list.slice(0, 25) } };
}

/** A refused or failed subcommand: what was wrong, and (for bad input) a correct example. */
export function errorReply(err: AppError, path: Subcommand | null): APIInteractionResponse {
  const showExample = path && (err.status === 422 || err.status === 400);
  return ephemeral(`⚠️ ${capitalise(err.message)}${showExample ? `\nExample: \`${EXAMPLES[path]}\`` : ""}`);
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
