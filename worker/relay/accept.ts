/**
 * What the Worker does with a message the relay forwarded: the original Loop's rules as a
 * pure function, tested in Node (test/node/relay-accept.test.ts). The relay on the runner
 * has already dropped what it can judge alone (bots, Loop's own messages, messages that
 * neither mention Loop, reply to it, start with `!loop`, sit in a thread Loop created nor
 * come by DM); the rules that need Loop's records are decided here:
 *
 *   - a thread message counts only in a thread a Loop run created (the Worker recorded it);
 *   - a DM counts from a user who owns a channel somewhere, or whom DISCORD_DM_USERS allows;
 *   - a DM conversation needs a directory (`/loop dir` in it, or the relay runner's dm_dir).
 *
 * Everyone in a server channel is at least a member there, and members may ask, exactly
 * as with `/loop ask`; bootstrap mode and owners change nothing for asking.
 */
import { COMMAND_PREFIX, type RelayMessage } from "../../protocol/relay.ts";

export interface Facts {
  botUserId: string;
  /** The thread's Loop channel was created by a run (channels.origin_run_id). */
  loopThread: boolean;
  /** For DMs: the author owns at least one Loop channel. */
  ownerSomewhere: boolean;
  /** For DMs: the author is in DISCORD_DM_USERS. */
  dmAllowed: boolean;
  /** For DMs: the conversation has a directory, its own or the relay's dm_dir. */
  dmHasDir: boolean;
}

export type Decision =
  | { act: "run"; prompt: string }
  | { act: "ignore"; why: string }
  | { act: "refuse"; text: string }
  | { act: "answer"; text: string };

export const DM_REFUSED =
  "🔒 Loop answers direct messages only from people who own a Loop channel, or whom the admin allows (DISCORD_DM_USERS).";
export const DM_NEEDS_DIR =
  "📁 This conversation has no project directory yet: use `/loop dir path: /absolute/path` here, or set `dm_dir` in the relay runner's config.";


/** The message's text without the bot's mention or the `!loop` prefix. */
export function stripAddress(content: string, botUserId: string): string {
  let text = content.replace(new RegExp(`\\s*<@!?${botUserId}>\\s*`, "g"), " ").trim();
  if (text.toLowerCase().startsWith(COMMAND_PREFIX) && (text.length === COMMAND_PREFIX.length || /\s/.test(text[COMMAND_PREFIX.length]!))) {
    text = text.slice(COMMAND_PREFIX.length).trim();
  }
  return text;
}

export function decide(msg: RelayMessage, facts: Facts): Decision {
  if (msg.author.bot) return { act: "ignore", why: "from a bot" };
  if (msg.author.id === facts.botUserId) return { act: "ignore", why: "Loop's own message" };
  const text = stripAddress(msg.content, facts.botUserId);
  const addressed = msg.reasons.some((r) => r === "mention" || r === "reply" || r === "command");

  if (msg.guild_id === null) {
    if (!facts.ownerSomewhere && !facts.dmAllowed) return { act: "refuse", text: DM_REFUSED };
    if (!text && !msg.attachments.length) return { act: "ignore", why: "empty" };
    if (!facts.dmHasDir) return { act: "answer", text: DM_NEEDS_DIR };
    return { act: "run", prompt: text };
  }
  if (!addressed && !(msg.reasons.includes("thread") && facts.loopThread)) return { act: "ignore", why: "not addressed to Loop" };
  if (!text && !msg.attachments.length) return { act: "ignore", why: "empty" };
  return { act: "run", prompt: text };
}
