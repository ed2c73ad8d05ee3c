/** What every /loop subcommand handler receives and returns. */
import type { APIInteractionResponse } from "discord-api-types/v10";
import type { Subcommand } from "../../../protocol/discord-commands.ts";
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
 * Answered "deferred" before anything stored is read (only its options are checked first);
 * its work runs after the answer, with access resolved, and shows in the deferred reply.
 */
export interface DeferredSpec<P extends Subcommand> extends SpecBase {
  afterDeferral(input: Omit<CommandInput<P>, "later" | "raw">): Promise<void>;
}

export type CommandSpec<P extends Subcommand> = AnsweringSpec<P> | DeferredSpec<P>;

export type CommandTable = { [P in Subcommand]: CommandSpec<P> };
