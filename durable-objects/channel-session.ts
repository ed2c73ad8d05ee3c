/**
 * ChannelSession: one per channel, named by the channel id. It owns the channel's task
 * alarm (one alarm, at the earliest next_run_at of its enabled tasks). The rules it runs
 * live in worker/domain; this class only sequences them and keeps its few storage keys
 * (docs/storage.md).
 */
import { DurableObject } from "cloudflare:workers";
import { db, type Db } from "../worker/db/client.ts";
import { earliestDue, fireDueTasks, type FiredBy, type FiredRun } from "../worker/domain/scheduler.ts";
import type { Env } from "../worker/env.ts";
import { log } from "../worker/log.ts";

/** When firing left something due (a task that keeps failing), try again this much later. */
const RETRY_DELAY_MS = 30_000;

export class ChannelSession extends DurableObject<Env> {
  readonly #db: Db;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#db = db(env.DB);
  }

  /** Re-reads the channel's tasks and sets (or clears) the alarm. */
  async arm(channelId: string): Promise<number | null> {
    await this.#remember(channelId);
    return this.#arm(channelId, Date.now());
  }

  /** Fires whatever is due now; the sweep calls this for channels whose alarm fell behind. */
  async fire(channelId: string, firedBy: FiredBy): Promise<FiredRun[]> {
    await this.#remember(channelId);
    return this.#fire(channelId, firedBy);
  }

  override async alarm(): Promise<void> {
    const channelId = await this.ctx.storage.get<string>("channelId");
    if (!channelId) return;
    await this.#fire(channelId, "alarm");
  }

  async #fire(channelId: string, firedBy: FiredBy): Promise<FiredRun[]> {
    const now = Date.now();
    const fired = await fireDueTasks(this.env.DB, this.#db, channelId, now, firedBy);
    await this.#arm(channelId, now);
    return fired;
  }

  async #arm(channelId: string, now: number): Promise<number | null> {
    const due = await earliestDue(this.#db, channelId);
    if (due === null) {
      await this.ctx.storage.deleteAlarm();
      return null;
    }
    const at = due <= now ? now + RETRY_DELAY_MS : due;
    if (due <= now) log.warn("channel: a task is still due after firing; retrying later", { channelId, due, retryAt: at });
    await this.ctx.storage.setAlarm(at);
    return at;
  }

  async #remember(channelId: string): Promise<void> {
    if ((await this.ctx.storage.get<string>("channelId")) !== channelId) {
      await this.ctx.storage.put("channelId", channelId);
    }
  }
}
