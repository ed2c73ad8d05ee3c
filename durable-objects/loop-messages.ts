/**
 * The pump behind loops' live Discord messages, run by the channel's ChannelSession beside
 * the runs (live-messages.ts), woken by the same alarm. Records live in the object's
 * storage under "discord:loop:<loop id>" (docs/storage.md); the content is rendered from
 * D1 at call time (core/discord/loop-render.ts), so a coalesced edit shows the newest state.
 */
import { and, desc, eq, isNotNull, or } from "drizzle-orm";
import type { Db } from "../core/db/client.ts";
import { channels, loops, runs } from "../core/db/schema.ts";
import type { Config } from "../core/env.ts";
import { log } from "../core/log.ts";
import { applyLoopResult, loopWakeTime, newLoopRecord, planLoop, touch, type LoopLiveRecord } from "../core/discord/loop-live-state.ts";
import { renderLoop } from "../core/discord/loop-render.ts";
import { discordRest, type DiscordRest } from "../core/discord/rest.ts";
import { WakePump } from "./wake-pump.ts";

const PREFIX = "discord:loop:";
const key = (loopId: number) => `${PREFIX}${loopId}`;
const MAX_STEPS_PER_WAKE = 4;

export class LoopMessages {
  readonly #storage: DurableObjectStorage;
  readonly #db: Db;
  readonly #rest: DiscordRest;
  readonly #wakeBy: (at: number) => Promise<void>;
  readonly #pump: WakePump<number>;

  constructor(storage: DurableObjectStorage, db: Db, cfg: Config, wakeBy: (at: number) => Promise<void>) {
    this.#storage = storage;
    this.#db = db;
    this.#rest = discordRest(cfg);
    this.#wakeBy = wakeBy;
    this.#pump = new WakePump(
      async () => [...(await this.#all()).values()].map((rec): [number, number | null] => [rec.loopId, rec.wakeAt]),
      (loopId) => this.#drive(loopId),
      (loopId, err) => log.error("discord: loop message step failed", { loopId, error: String(err) }),
    );
  }

  /** A loop started in a channel bound to Discord: its message is posted there (needs the bot token). */
  async attach(channelId: string, loopId: number): Promise<void> {
    if (!this.#rest.hasBotToken || (await this.#get(loopId))) return;
    const channel = await this.#db.query.channels.findFirst({ where: eq(channels.id, channelId), columns: { discordChannelId: true } });
    if (!channel?.discordChannelId) return;
    await this.#put(newLoopRecord(loopId, channel.discordChannelId, Date.now()));
  }

  /** The loop changed (an iteration started or ended, or the loop ended). Cheap without a message. */
  async changed(loopId: number, ended: boolean): Promise<void> {
    const rec = await this.#get(loopId);
    if (!rec) return;
    touch(rec, ended);
    await this.#put(rec);
  }

  /**
   * A run of the channel sent its first events: a loop's message shows its iteration
   * working. One look at the (one or two) loop records per batch; one change per run.
   */
  async runActive(runId: number): Promise<void> {
    for (const rec of (await this.#all()).values()) {
      if (rec.ended || rec.activeRunId === runId) continue;
      rec.activeRunId = runId;
      touch(rec, false);
      await this.#put(rec);
    }
  }

  nextWake(): Promise<number | null> {
    return this.#pump.nextWake();
  }

  isDue(now = Date.now()): Promise<boolean> {
    return this.#pump.isDue(now);
  }

  wake(): Promise<void> {
    return this.#pump.wake();
  }

  async #drive(loopId: number): Promise<void> {
    for (let i = 0; i < MAX_STEPS_PER_WAKE; i++) {
      const rec = await this.#get(loopId);
      if (!rec) return;
      const now = Date.now();
      const p = planLoop(rec, now);
      if ("done" in p) return this.#storage.delete(key(loopId)).then(() => undefined);
      if (!("show" in p)) return this.#put(rec);
      const body = await this.#render(loopId, now);
      if (!body) return this.#storage.delete(key(loopId)).then(() => undefined);
      const result = p.show.edit ? await this.#rest.editMessage(rec.channelId, rec.messageId!, body) : await this.#rest.createMessage(rec.channelId, body);
      const fresh = await this.#get(loopId);
      if (!fresh) return;
      if (!result.ok) log.warn("discord: loop message call failed", { loopId, status: result.status, message: result.message });
      if (applyLoopResult(fresh, p.show.version, result, Date.now())) {
        await this.#storage.delete(key(loopId));
        return;
      }
      await this.#put(fresh);
    }
  }

  async #render(loopId: number, now: number) {
    const loop = await this.#db.query.loops.findFirst({ where: eq(loops.id, loopId) });
    if (!loop) return null;
    const recent = await this.#db.query.runs.findMany({ where: eq(runs.loopId, loopId), orderBy: desc(runs.iteration), limit: 2 });
    const answered =
      recent.find((r) => r.resultText || r.error) ??
      (await this.#db.query.runs.findFirst({ where: and(eq(runs.loopId, loopId), or(isNotNull(runs.resultText), isNotNull(runs.error))), orderBy: desc(runs.iteration) })) ??
      null;
    return renderLoop(loop, recent[0] ?? null, answered, now);
  }

  async #get(loopId: number): Promise<LoopLiveRecord | undefined> {
    return this.#storage.get<LoopLiveRecord>(key(loopId));
  }

  async #put(rec: LoopLiveRecord): Promise<void> {
    rec.wakeAt = loopWakeTime(rec, Date.now());
    await this.#storage.put(key(rec.loopId), rec);
    if (rec.wakeAt !== null) await this.#wakeBy(rec.wakeAt);
  }

  /** A channel runs one loop at a time, so this list stays a record or two. */
  async #all(): Promise<Map<string, LoopLiveRecord>> {
    return this.#storage.list<LoopLiveRecord>({ prefix: PREFIX });
  }
}
