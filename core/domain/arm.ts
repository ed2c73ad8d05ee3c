import { sessionOf } from "../../durable-objects/contracts.ts";
import type { Env } from "../env.ts";

/** Asks the channel's ChannelSession to re-read its tasks and set its alarm. */
export async function armChannel(env: Env, channelId: string): Promise<void> {
  await sessionOf(env, channelId).arm(channelId);
}
