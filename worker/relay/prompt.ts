/**
 * The prompt a relayed message becomes (pure): who wrote it, the channel's conversation
 * since Loop's last run there (as the original did), then the message and its attachments.
 *
 * Context is bounded: at most MAX_CONTEXT_MESSAGES messages (protocol/relay.ts) and
 * CONTEXT_BUDGET characters in all; when over, the oldest are dropped first.
 */
import { MAX_RELAY_CONTENT, type RelayContextMessage } from "../../protocol/relay.ts";

/** Characters of channel context a prompt carries at most. */
export const CONTEXT_BUDGET = 4_000;
/** Discord's snowflakes count milliseconds from 2015-01-01 (docs: "Reference › Snowflakes"). */
const DISCORD_EPOCH = 1_420_070_400_000n;

export const snowflakeMs = (id: string): number => Number((BigInt(id) >> 22n) + DISCORD_EPOCH);

export const CUT_NOTICE = `(The message was longer than ${MAX_RELAY_CONTENT.toLocaleString("en-US")} characters and was cut there.)`;

/** The context messages written after `since` (epoch ms), newest kept within the budget. */
export function boundContext(context: RelayContextMessage[], since: number | null): RelayContextMessage[] {
  const fresh = context.filter((m) => since === null || snowflakeMs(m.id) > since);
  const kept: RelayContextMessage[] = [];
  let used = 0;
  for (let i = fresh.length - 1; i >= 0; i--) {
    const m = fresh[i]!;
    const size = m.author.length + m.content.length + 3;
    if (used + size > CONTEXT_BUDGET) break;
    used += size;
    kept.unshift(m);
  }
  return kept;
}

export function buildPrompt(opts: {
  author: string;
  text: string;
  truncated: boolean;
  attachments: string[];
  context: RelayContextMessage[];
}): string {
  const parts: string[] = [];
  if (opts.context.length) {
    parts.push("Messages in this channel since your last run here, oldest first:");
    parts.push(opts.context.map((m) => `${m.author}: ${m.content}`).join("\n"));
    parts.push("");
  }
  parts.push(`${opts.author} says:`);
  parts.push(opts.text);
  if (opts.truncated) parts.push(CUT_NOTICE);
  if (opts.attachments.length) parts.push(`Attachments:\n${opts.attachments.join("\n")}`);
  return parts.join("\n");
}
