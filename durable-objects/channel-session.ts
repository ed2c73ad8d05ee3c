import { DurableObject } from "cloudflare:workers";
import type { Env } from "../worker/env.ts";

/** One per channel: its Claude session, run queue and task alarm. */
export class ChannelSession extends DurableObject<Env> {
  async arm(channelId: string): Promise<void> {
    await this.ctx.storage.put("channelId", channelId);
  }
}
