/**
 * The relay's half of "what counts as a message to Loop" (pure; test/node/relay-classify.test.ts).
 * It drops what it can judge from the Gateway alone, so only candidates cost a request to
 * the Worker, which applies the rules that need Loop's records (worker/relay/accept.ts):
 *
 *   dropped here: messages from bots (no loops between bots), webhooks and Loop itself;
 *   system messages (joins, pins); anything that is not an @mention of the bot, a reply to
 *   one of its messages, `!loop …`, a message in a thread the bot created, or a DM.
 *
 * It also remembers, within fixed bounds, what the Worker needs and a MESSAGE_CREATE lacks:
 * which channels are threads (and their parent and creator), and the last few non-bot
 * messages of each channel, carried as context with the next message to Loop there.
 */
import type { GatewayMessageCreateDispatchData } from "discord-api-types/v10";
import { COMMAND_PREFIX, MAX_CONTEXT_CONTENT, MAX_CONTEXT_MESSAGES, MAX_RELAY_CONTENT, type RelayContextMessage, type RelayMessageInput, type RelayReason } from "../../protocol/relay.ts";

/** Threads remembered (id → parent, creator); the oldest are forgotten first. */
export const MAX_THREADS = 5_000;
/** Channels whose recent messages are kept for context; the least recently active go first. */
export const MAX_CONTEXT_CHANNELS = 200;

/** Message types a person writes (Default, Reply); the rest are system notices. */
const USER_MESSAGE_TYPES = new Set([0, 19]);

export interface ThreadInfo {
  parentId: string;
  ownerId: string | null;
}

export class RelayState {
  botUserId: string | null = null;
  readonly threads = new Map<string, ThreadInfo>();
  readonly #context = new Map<string, RelayContextMessage[]>();

  rememberThread(id: string, info: ThreadInfo): void {
    this.threads.delete(id);
    this.threads.set(id, info);
    if (this.threads.size > MAX_THREADS) this.threads.delete(this.threads.keys().next().value!);
  }

  forgetThread(id: string): void {
    this.threads.delete(id);
  }

  /** The channel's recent messages, oldest first (a copy). */
  context(channelId: string): RelayContextMessage[] {
    return [...(this.#context.get(channelId) ?? [])];
  }

  remember(channelId: string, m: RelayContextMessage): void {
    const list = this.#context.get(channelId) ?? [];
    this.#context.delete(channelId); // re-inserted last: most recently active
    list.push(m);
    if (list.length > MAX_CONTEXT_MESSAGES) list.shift();
    this.#context.set(channelId, list);
    if (this.#context.size > MAX_CONTEXT_CHANNELS) this.#context.delete(this.#context.keys().next().value!);
  }
}

export const isCommand = (content: string): boolean =>
  content.toLowerCase().startsWith(COMMAND_PREFIX) && (content.length === COMMAND_PREFIX.length || /\s/.test(content[COMMAND_PREFIX.length]!));

/** Why a message is for Loop, by the rules the relay can check; empty when it is not. */
export function reasonsFor(msg: GatewayMessageCreateDispatchData, state: RelayState): RelayReason[] {
  const bot = state.botUserId!;
  const reasons: RelayReason[] = [];
  if (!msg.guild_id) reasons.push("dm");
  if (msg.mentions.some((u) => u.id === bot)) reasons.push("mention");
  if (msg.referenced_message?.author.id === bot) reasons.push("reply");
  if (isCommand(msg.content)) reasons.push("command");
  if (state.threads.get(msg.channel_id)?.ownerId === bot) reasons.push("thread");
  return reasons;
}

/**
 * The message as the Worker should get it, or null when it is not for Loop. Messages that
 * are not for Loop but come from people are remembered as context for the channel.
 */
export function classify(msg: GatewayMessageCreateDispatchData, state: RelayState): RelayMessageInput | null {
  if (!state.botUserId) return null; // before READY nothing can be judged
  if (msg.author.bot || msg.webhook_id || msg.author.id === state.botUserId) return null;
  if (!USER_MESSAGE_TYPES.has(msg.type)) return null;
  const author = msg.member?.nick ?? msg.author.global_name ?? msg.author.username;
  const reasons = reasonsFor(msg, state);
  if (!reasons.length) {
    if (msg.content) state.remember(msg.channel_id, { id: msg.id, author: author.slice(0, 100), content: msg.content.slice(0, MAX_CONTEXT_CONTENT) });
    return null;
  }
  const thread = state.threads.get(msg.channel_id);
  return {
    id: msg.id,
    channel_id: msg.channel_id,
    guild_id: msg.guild_id ?? null,
    parent_id: thread?.parentId ?? null,
    thread_owned_by_bot: thread?.ownerId === state.botUserId,
    author: { id: msg.author.id, username: msg.author.username.slice(0, 100), display_name: author.slice(0, 100), bot: false },
    roles: msg.member?.roles ?? [],
    content: msg.content.slice(0, MAX_RELAY_CONTENT),
    truncated: msg.content.length > MAX_RELAY_CONTENT,
    attachments: msg.attachments.slice(0, 10).map((a) => a.url),
    referenced_message_id: msg.message_reference?.message_id ?? null,
    reasons,
    context: state.context(msg.channel_id),
    at: Date.parse(msg.timestamp) || Date.now(),
  };
}
