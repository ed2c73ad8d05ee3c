/**
 * POST /runner/v1/discord/messages: what happens to each message the relay forwarded.
 * The pure rules (accept.ts) decide; this module gathers their facts from D1, then acts:
 * a run queued exactly as `/loop ask` queues one (domain queueRun, deduped by the Discord
 * message id), answered as a reply to the message, with a typing indicator meanwhile; or
 * one short reply (a refusal at most once a minute per user and channel); or nothing.
 */
import { desc, eq } from "drizzle-orm";
import type { RelayBatch, RelayBatchResult, RelayMessage, RelayOutcome } from "../../protocol/relay.ts";
import type { Db } from "../../core/db/client.ts";
import { channels, runs, type ChannelRow } from "../../core/db/schema.ts";
import type { Actor } from "../../core/domain/actor.ts";
import { ensureDiscordChannel, ensureDmChannel, ownsAnyChannel } from "../../core/domain/discord-channels.ts";
import { queueRun } from "../../core/domain/runs.ts";
import { discordRest } from "../../core/discord/rest.ts";
import type { Config, Env } from "../../core/env.ts";
import { log } from "../../core/log.ts";
import { decide, type Facts } from "./accept.ts";
import { claimNotice } from "./notices.ts";
import { boundContext, buildPrompt } from "./prompt.ts";

export interface RelayContext {
  db: Db;
  env: Env;
  cfg: Config;
  /** The relay runner's dm_dir, from its lease. */
  dmDir: string | null;
  waitUntil: (p: Promise<unknown>) => void;
}

type Result = RelayBatchResult["results"][number];

/** Handles a batch in order (messages of one channel must queue in the order they were written). */
export async function handleBatch(rc: RelayContext, batch: RelayBatch): Promise<RelayBatchResult> {
  const results: Result[] = [];
  for (const msg of batch.messages) {
    try {
      results.push(await handleMessage(rc, batch.bot_user_id, msg));
    } catch (err) {
      // The batch fails as a whole and the relay posts it again: what was already done
      // is a "duplicate" the second time (runs.discord_message_id, discord_notices).
      log.error("relay: message failed", { messageId: msg.id, channelId: msg.channel_id, error: String(err) });
      throw err;
    }
  }
  return { results };
}

async function handleMessage(rc: RelayContext, botUserId: string, msg: RelayMessage): Promise<Result> {
  const done = (outcome: RelayOutcome, runId: number | null = null): Result => ({ id: msg.id, outcome, run_id: runId });
  if (msg.author.bot || msg.author.id === botUserId) return done("ignored");

  const isDm = msg.guild_id === null;
  // A thread message that only sits in a thread counts only in a thread a run created: look
  // before creating anything, so chatter in other threads writes nothing.
  const onlyThread = msg.reasons.every((r) => r === "thread");
  let channel: ChannelRow | undefined;
  if (onlyThread && !isDm) {
    channel = await rc.db.query.channels.findFirst({ where: eq(channels.discordChannelId, msg.channel_id) });
    if (!channel?.originRunId) return done("ignored");
  }
  channel ??= isDm
    ? await ensureDmChannel(rc.db, msg.channel_id, msg.author)
    : await ensureDiscordChannel(rc.db, {
        id: msg.channel_id,
        guildId: msg.guild_id!,
        name: `channel-${msg.channel_id}`,
        parent: msg.parent_id ? { id: msg.parent_id, name: `channel-${msg.parent_id}` } : undefined,
      });

  const facts: Facts = {
    botUserId,
    loopThread: channel.originRunId !== null,
    ownerSomewhere: isDm ? await ownsAnyChannel(rc.db, msg.author.id) : false,
    dmAllowed: rc.cfg.discordDmUsers.includes(msg.author.id),
    dmHasDir: Boolean(channel.dirPath ?? rc.dmDir),
  };
  const decision = decide(msg, facts);
  switch (decision.act) {
    case "ignore":
      log.debug("relay: ignored", { messageId: msg.id, why: decision.why });
      return done("ignored");
    case "refuse":
    case "answer": {
      if (await claimNotice(rc.db, msg.author.id, channel.id, Date.now())) rc.waitUntil(reply(rc, msg, decision.text));
      return done(decision.act === "refuse" ? "refused" : "answered");
    }
    case "run":
      break;
  }

  const last = await rc.db.query.runs.findFirst({ where: eq(runs.channelId, channel.id), orderBy: desc(runs.id), columns: { createdAt: true } });
  const prompt = buildPrompt({
    author: msg.author.display_name,
    text: decision.prompt,
    truncated: msg.truncated,
    attachments: msg.attachments,
    context: boundContext(msg.context, last?.createdAt ?? null),
  });
  // The same actor a slash command gets: this channel, and the parent for a thread.
  const actor: Actor = { kind: "channels", tokenId: `discord:${msg.author.id}`, channelIds: channel.parentId ? [channel.id, channel.parentId] : [channel.id] };
  const { run, created } = await queueRun(
    { db: rc.db, env: rc.env, cfg: rc.cfg, actor },
    { channel_id: channel, prompt, discord_message_id: msg.id },
    "discord",
    { target: { kind: "channel", channelId: msg.channel_id, replyTo: msg.id }, userId: msg.author.id },
  );
  if (!created) return done("duplicate", run.id);
  // Typing until the live message appears (Discord shows it 10 s, or until the bot posts).
  rc.waitUntil(discordRest(rc.cfg).triggerTyping(msg.channel_id));
  return done("run", run.id);
}

async function reply(rc: RelayContext, msg: RelayMessage, content: string): Promise<void> {
  const res = await discordRest(rc.cfg).createMessage(msg.channel_id, {
    content,
    message_reference: { message_id: msg.id, fail_if_not_exists: false },
    allowed_mentions: { parse: [] },
  });
  if (!res.ok) log.warn("relay: could not reply", { messageId: msg.id, status: res.status, message: res.message });
}
