/**
 * The conversation relay's part of /runner/v1: one runner with `discord_gateway: true`
 * holds Discord's Gateway open and forwards the messages meant for Loop. The Worker and
 * the runner both parse with these schemas.
 *
 *   lease     POST   /runner/v1/relay/lease        RelayLeaseRequest → RelayLease (granted or not)
 *   release   POST   /runner/v1/relay/release      RelayLeaseRequest → RelayLease (not granted)
 *   messages  POST   /runner/v1/discord/messages   RelayBatch → RelayBatchResult (409 without the lease)
 *
 * Only one relay at a time: the Dispatcher grants the lease to one runner process (its
 * `instance`) for RELAY_LEASE_TTL_MS; the holder renews it every third of that, and a
 * batch it posts renews it too. Another runner takes over once a lease runs out.
 */
import { z } from "zod";

/** A message starting with this word is for Loop (the original's `!loop <prompt>`). */
export const COMMAND_PREFIX = "!loop";

/** How long a relay lease lasts without a renewal. */
export const RELAY_LEASE_TTL_MS = 30_000;
/** Messages per POST /runner/v1/discord/messages. */
export const MAX_RELAY_BATCH = 50;
/** Longest message content the relay forwards; Discord allows 4,000 (Nitro), the Worker cuts further. */
export const MAX_RELAY_CONTENT = 4_000;
/** Earlier messages of the channel the relay saw, carried as context with a message. */
export const MAX_CONTEXT_MESSAGES = 20;
/** Each context message is cut to this many characters. */
export const MAX_CONTEXT_CONTENT = 500;

const Snowflake = z.string().regex(/^\d{1,20}$/, "must be a Discord snowflake");

export const RelayLeaseRequest = z.strictObject({
  /** This runner process: a random id chosen at start, so a restarted runner is a new holder. */
  instance: z.string().min(8).max(64),
  /** The runner's `dm_dir`: where DM conversations without a directory of their own work. */
  dm_dir: z.string().max(1_000).nullable().default(null),
});
export type RelayLeaseRequest = z.input<typeof RelayLeaseRequest>;

export const RelayHolder = z.object({
  runner_id: z.string(),
  runner_name: z.string().nullable(),
  instance: z.string(),
  acquired_at: z.number().int(),
  expires_at: z.number().int(),
});
export type RelayHolder = z.infer<typeof RelayHolder>;

export const RelayLease = z.object({
  /** Whether the caller holds the lease now. */
  granted: z.boolean(),
  ttl_ms: z.number().int().min(0),
  /** Who holds it (the caller when granted); null when nobody does. */
  holder: RelayHolder.nullable(),
});
export type RelayLease = z.infer<typeof RelayLease>;

export const RelayAuthor = z.object({
  id: Snowflake,
  username: z.string().max(100),
  /** The member's nickname, else the user's global name, else the username. */
  display_name: z.string().max(100),
  bot: z.boolean().default(false),
});
export type RelayAuthor = z.infer<typeof RelayAuthor>;

/** Why the relay thinks a message is for Loop (the runner's rules; the Worker decides). */
export const RelayReason = z.enum(["mention", "reply", "command", "thread", "dm"]);
export type RelayReason = z.infer<typeof RelayReason>;

export const RelayContextMessage = z.object({
  id: Snowflake,
  author: z.string().max(100),
  content: z.string().max(MAX_CONTEXT_CONTENT),
});
export type RelayContextMessage = z.infer<typeof RelayContextMessage>;

export const RelayMessage = z.object({
  id: Snowflake,
  channel_id: Snowflake,
  /** null for a DM. */
  guild_id: Snowflake.nullable(),
  /** Set when the channel is a thread: the channel it lives in. */
  parent_id: Snowflake.nullable().default(null),
  /** Set when the thread was created by Loop's bot (a run's thread). */
  thread_owned_by_bot: z.boolean().default(false),
  author: RelayAuthor,
  /** The member's role ids (empty in DMs). */
  roles: z.array(Snowflake).max(250).default([]),
  content: z.string().max(MAX_RELAY_CONTENT),
  /** Whether Discord cut the content to fit (the Worker adds a notice). */
  truncated: z.boolean().default(false),
  attachments: z.array(z.url()).max(10).default([]),
  referenced_message_id: Snowflake.nullable().default(null),
  reasons: z.array(RelayReason).min(1).max(5),
  /** Non-bot messages the relay saw in this channel just before this one, oldest first. */
  context: z.array(RelayContextMessage).max(MAX_CONTEXT_MESSAGES).default([]),
  /** Epoch milliseconds (the message's timestamp). */
  at: z.number().int(),
});
export type RelayMessage = z.infer<typeof RelayMessage>;
export type RelayMessageInput = z.input<typeof RelayMessage>;

export const RelayBatch = z.strictObject({
  instance: z.string().min(8).max(64),
  /** The bot's own user id (from READY): the Worker never answers it. */
  bot_user_id: Snowflake,
  messages: z.array(RelayMessage).min(1).max(MAX_RELAY_BATCH),
});
export type RelayBatch = z.infer<typeof RelayBatch>;
export type RelayBatchInput = z.input<typeof RelayBatch>;

export const RelayOutcome = z.enum([
  /** A run was queued for it. */
  "run",
  /** Already handled (a resumed Gateway session or a retried batch). */
  "duplicate",
  /** Not for Loop after all (e.g. a thread Loop did not create). */
  "ignored",
  /** The author may not use Loop here; told so (at most once a minute). */
  "refused",
  /** Loop answered with a sentence instead of a run (a DM without a directory). */
  "answered",
]);
export type RelayOutcome = z.infer<typeof RelayOutcome>;

export const RelayBatchResult = z.object({
  results: z.array(z.object({ id: Snowflake, outcome: RelayOutcome, run_id: z.number().int().nullable() })),
});
export type RelayBatchResult = z.infer<typeof RelayBatchResult>;
