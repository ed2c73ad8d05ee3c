/** What every /loop subcommand handler receives and returns. */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Subcommand } from "../../../protocol/discord-commands.ts";
import type { AskPlace } from "../../../durable-objects/contracts.ts";
import type { Config, Env } from "../../../core/env.ts";
import type { Access } from "../access.ts";
import type { Interaction } from "../interaction-payload.ts";
import type { Options } from "../options.ts";

export interface CommandInput<P extends Subcommand> {
  access: Access;
  options: Options<P>;
  /** The options as Discord sent them, for subcommands that validate in two steps. */
  raw: Record<string, string | number | boolean>;
  interaction: Interaction;
  /** Work to finish after the response is sent (the request's waitUntil). */
  later: (work: Promise<unknown>) => void;
}

interface SpecBase {
  /** Owner-only subcommands say what they do ("schedule tasks"); null lets members run it. */
  owners: string | null;
}

/** Answers once access is known (a few D1 reads). */
export interface AnsweringSpec<P extends Subcommand> extends SpecBase {
  run(input: CommandInput<P>): Promise<APIInteractionResponse>;
}

/**
 * Answered "deferred" before anything stored is read (only its options and the payload's
 * place are checked first); its work runs after the answer, where it resolves its own
 * channel (the channel's session, for /loop ask), and shows in the deferred reply.
 */
export interface DeferredSpec<P extends Subcommand> extends SpecBase {
  /** Nothing stored is read before the answer, so no owner check can come first. */
  owners: null;
  afterDeferral(input: DeferredInput<P>): Promise<void>;
}

export interface DeferredInput<P extends Subcommand> {
  /** Where the interaction came from and who sent it, from its payload alone. */
  place: AskPlace;
  userId: string;
  options: Options<P>;
  interaction: Interaction;
  env: Env;
  cfg: Config;
}

export type CommandSpec<P extends Subcommand> = AnsweringSpec<P> | DeferredSpec<P>;

export type CommandTable = { [P in Subcommand]: CommandSpec<P> };
