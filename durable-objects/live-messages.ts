/**
 * The pump behind runs' live Discord messages: a component of the channel's ChannelSession,
 * as RunWatchers is. What to send is decided by core/discord/live-state.ts; this only sends it. Records
 * live in the object's storage under "discord:live:<run id>" (see docs/discord.md), so an
 * evicted object picks up where it left off; the object's alarm wakes the pump.
 *
 * The object's input gate opens while a REST call is in flight, so events can arrive
 * mid-call: a step re-reads the record after the call and applies only what the call
 * changed (live-state.ts applyResult), never writing back a stale copy. Steps never
 * overlap: only wake() runs them, and wake() calls are chained (an alarm run by hand, as
 * tests do, could otherwise meet the scheduled one and post a message twice).
 */
import { and, asc, eq } from "drizzle-orm";
import { ChannelKind } from "../protocol/discord-constants.ts";
import type { WireEvent } from "../protocol/runner.ts";
import type { FiredRun } from "./contracts.ts";
import type { Db } from "../core/db/client.ts";
import { channels, runEvents, runs, type RunRow } from "../core/db/schema.ts";
import { recordRunThread } from "../core/domain/discord-channels.ts";
import { isTerminal } from "../core/domain/run-state.ts";
import type { Config } from "../core/env.ts";
import { log } from "../core/log.ts";
import { applyEvents, applyResult, newRecord, plan, wakeTime, type LiveRecord, type Step, type Target } from "../core/discord/live-state.ts";
import { finalBody, renderFinal, renderHandoff, renderLive, type FooterSpend } from "../core/discord/render.ts";
import { discordRest, type DiscordRest, type RestResult } from "../core/discord/rest.ts";
import { cutLine } from "../core/text.ts";
import { WakePump } from "./wake-pump.ts";

const PREFIX = "discord:live:";
const key = (runId: number) => `${PREFIX}${runId}`;
/** Calls one wake may make for one record before yielding to the others. */
const MAX_STEPS_PER_WAKE = 8;
/** Discord's limit for a thread name. */
const THREAD_NAME_LIMIT = 100;
/** Threads for scheduled runs archive after a day without messages. */
const THREAD_ARCHIVE_MINUTES = 1440;

export class LiveMessages {
  readonly #storage: DurableObjectStorage;
  readonly #db: Db;
  readonly #rest: DiscordRest;
  /** Makes sure the object's alarm fires no later than `at`. */
  readonly #wakeBy: (at: number) => Promise<void>;
  readonly #pump: WakePump<number>;
  /** run id → wakeAt of every stored record; read from storage once per isolate. */
  #index: Promise<Map<number, number | null>> | null = null;

  constructor(storage: DurableObjectStorage, db: Db, cfg: Config, wakeBy: (at: number) => Promise<void>) {
    this.#storage = storage;
    this.#db = db;
    this.#rest = discordRest(cfg);
    this.#wakeBy = wakeBy;
    this.#pump = new WakePump(
      async () => (await this.#wakes()).entries(),
      (runId) => this.#drive(runId),
      (runId, err) => log.error("discord: live message step failed", { runId, error: String(err) }),
    );
  }

  /**
   * Starts the live message of a run this object has just inserted (ChannelSession.queueRun,
   * before its pump): it has not been handed to a runner, so it has no events and has not
   * ended, and its prompt is in the row at hand. One storage write and nothing read from D1:
   * attach's three reads were half of each /loop ask's D1 statements in the channel's object
   * (bench/interactions, issue 15). Nothing can be attached to it yet: a retried request finds
   * its run inserted already and attaches nothing (queueRun's `created`).
   */
  async attachNew(run: Pick<RunRow, "id" | "prompt">, target: Target, userId: string | null): Promise<void> {
    const rec = newRecord(run.id, target, { userId, prompt: run.prompt, now: Date.now() });
    rec.pending = null; // no backlog to read
    await this.#put(rec);
  }

  /** Starts a live message for a run. Events stored before this call are read back from D1. */
  async attach(runId: number, target: Target, userId: string | null): Promise<void> {
    if (await this.#get(runId)) return; // attached already: a retried request
    const run = await this.#db.query.runs.findFirst({ where: eq(runs.id, runId), columns: { prompt: true } });
    if (!run) return;
    await this.#put(newRecord(runId, target, { userId, prompt: run.prompt, now: Date.now() }));
    // Events published from here on queue in rec.pending while the backlog is read.
    const stored = await this.#db.query.runEvents.findMany({ where: eq(runEvents.runId, runId), orderBy: asc(runEvents.seq) });
    const rec = await this.#get(runId);
    if (!rec) return;
    const backlog = stored.map((e) => ({ seq: e.seq, at: e.at, data: e.payload as WireEvent["data"] }));
    applyEvents(rec, [...backlog, ...(rec.pending ?? [])], Date.now());
    rec.pending = null;
    await this.#put(rec);
    // It may have ended before we were told about it (a cancel, a very short run).
    await this.finish(runId);
  }

  /**
   * A run started over REST or MCP in a channel that has a Discord channel: it is posted
   * there too, so the channel sees all of its agent's work, not only what Discord started.
   */
  async attachChannel(channelId: string, run: Pick<RunRow, "id" | "prompt">): Promise<void> {
    if (!this.#rest.hasBotToken) return;
    const channel = await this.#db.query.channels.findFirst({ where: eq(channels.id, channelId), columns: { discordChannelId: true } });
    if (channel?.discordChannelId) await this.attachNew(run, { kind: "channel", channelId: channel.discordChannelId }, null);
  }

  /** Scheduled runs of a Discord channel: each gets a thread named after its task. */
  async attachScheduled(channelId: string, fired: FiredRun[]): Promise<void> {
    if (!fired.length || !this.#rest.hasBotToken) return;
    const channel = await this.#db.query.channels.findFirst({ where: eq(channels.id, channelId) });
    if (!channel?.discordChannelId) return;
    for (const f of fired) {
      const run = await this.#db.query.runs.findFirst({ where: and(eq(runs.id, f.runId), eq(runs.channelId, channelId)), columns: { prompt: true } });
      if (!run) continue;
      // A thread cannot hold threads: a task of a thread channel posts in the thread itself.
      const target: Target = channel.parentId
        ? { kind: "channel", channelId: channel.discordChannelId }
        : { kind: "thread", parentId: channel.discordChannelId, name: cutLine(`⏰ Task #${f.taskId}: ${run.prompt}`, THREAD_NAME_LIMIT) };
      await this.attach(f.runId, target, null);
    }
  }

  /** New events of a run (already stored in D1). Cheap for runs without a live message. */
  async publish(runId: number, events: WireEvent[]): Promise<void> {
    const rec = await this.#get(runId);
    if (!rec || rec.final) return;
    if (rec.pending) rec.pending.push(...events);
    else applyEvents(rec, events, Date.now());
    await this.#put(rec);
  }

  /** The run ended: its final messages replace the live one. Idempotent. */
  async finish(runId: number, known?: RunRow, spend?: FooterSpend): Promise<void> {
    const rec = await this.#get(runId);
    if (!rec || rec.final || rec.pending) return;
    // The caller may have just read the run (ChannelSession.finished): no second read.
    const run = known ?? (await this.#db.query.runs.findFirst({ where: eq(runs.id, runId) }));
    if (!run || !isTerminal(run.status)) return;
    const fresh = await this.#get(runId);
    if (!fresh || fresh.final) return;
    fresh.final = { chunks: renderFinal(run, fresh, spend), sent: 0 };
    fresh.version += 1;
    await this.#put(fresh);
  }

  nextWake(): Promise<number | null> {
    return this.#pump.nextWake();
  }

  isDue(now = Date.now()): Promise<boolean> {
    return this.#pump.isDue(now);
  }

  /** Drives every record that is due; the caller re-arms the alarm afterwards. */
  wake(): Promise<void> {
    return this.#pump.wake();
  }

  async #drive(runId: number): Promise<void> {
    const hasBot = this.#rest.hasBotToken;
    for (let i = 0; i < MAX_STEPS_PER_WAKE; i++) {
      const rec = await this.#get(runId);
      if (!rec) return;
      const now = Date.now();
      const next = plan(rec, now, hasBot);
      if ("giveUp" in next) {
        log.warn("discord: live message given up", { runId, reason: next.giveUp });
        await this.#delete(runId);
        return;
      }
      if (!("step" in next)) {
        await this.#put(rec); // refreshes wakeAt
        return;
      }
      const result = await this.#call(rec, next.step, now);
      const fresh = await this.#get(runId);
      if (!fresh) return;
      if (next.step.kind === "thread" && result.ok) await this.#recordThread(runId, result.data.id, next.step.name);
      const done = applyResult(fresh, next.step, result, Date.now(), hasBot);
      if (!result.ok) log.warn("discord: call failed", { runId, step: next.step.kind, status: result.status, code: result.code, message: result.message, failures: fresh.failures });
      if (done) {
        if (!fresh.final || fresh.final.sent < fresh.final.chunks.length) log.error("discord: live message abandoned", { runId, failures: fresh.failures });
        await this.#delete(runId);
        return;
      }
      await this.#put(fresh);
    }
  }

  /**
   * A run's thread becomes a Loop channel at once, marked with the run: messages in it are
   * then for Loop (the relay), and its first conversation resumes the run's session.
   */
  async #recordThread(runId: number, threadId: string, name: string): Promise<void> {
    try {
      await recordRunThread(this.#db, runId, threadId, name);
    } catch (err) {
      log.error("discord: could not record a run's thread", { runId, threadId, error: String(err) });
    }
  }

  /** Performs one step against Discord. Only ids come back; the record is updated by the caller. */
  async #call(rec: LiveRecord, step: Step, now: number): Promise<RestResult<{ id: string }>> {
    const t = rec.target;
    switch (step.kind) {
      case "handoff": {
        if (t.kind !== "interaction") throw new Error("hand-off without an interaction");
        return this.#rest.editOriginal(t.appId, t.token, renderHandoff(rec, now));
      }
      case "thread":
        return this.#rest.startThread(step.parentId, { name: step.name, type: ChannelKind.PublicThread, auto_archive_duration: THREAD_ARCHIVE_MINUTES });
      case "show": {
        const message = step.part === "live" ? renderLive(rec, now) : finalBody(rec.final!.chunks[0]!);
        if (rec.onOriginal && t.kind === "interaction") return this.#rest.editOriginal(t.appId, t.token, message);
        if (rec.messageId) return this.#rest.editMessage(rec.channelId!, rec.messageId, message);
        // A relayed message is answered as a reply to it (fail_if_not_exists: false: a deleted
        // message must not stop the answer).
        const reply = t.kind === "channel" && t.replyTo ? { message_reference: { message_id: t.replyTo, fail_if_not_exists: false } } : {};
        return this.#rest.createMessage(rec.channelId!, { ...message, ...reply });
      }
      case "more": {
        const message = finalBody(rec.final!.chunks[step.index]!);
        if (rec.onOriginal && t.kind === "interaction") return this.#rest.followup(t.appId, t.token, message);
        return this.#rest.createMessage(rec.channelId!, message);
      }
    }
  }

  async #get(runId: number): Promise<LiveRecord | undefined> {
    return this.#storage.get<LiveRecord>(key(runId));
  }

  /** Stores the record with its next wake time, and makes sure the alarm comes by then. */
  async #put(rec: LiveRecord): Promise<void> {
    rec.wakeAt = rec.pending ? null : wakeTime(rec, Date.now(), this.#rest.hasBotToken);
    await this.#storage.put(key(rec.runId), rec);
    (await this.#wakes()).set(rec.runId, rec.wakeAt);
    if (rec.wakeAt !== null) await this.#wakeBy(rec.wakeAt);
  }

  async #delete(runId: number): Promise<void> {
    await this.#storage.delete(key(runId));
    (await this.#wakes()).delete(runId);
  }

  /** The wake index, so finding what is due never reads every record. */
  #wakes(): Promise<Map<number, number | null>> {
    if (!this.#index) {
      const load = this.#storage.list<LiveRecord>({ prefix: PREFIX }).then((all) => new Map([...all.values()].map((r) => [r.runId, r.wakeAt])));
      load.catch(() => (this.#index = null)); // a failed read is retried next time
      this.#index = load;
    }
    return this.#index;
  }
}
