import { sessionOf } from "../../durable-objects/contracts.ts";
import type { Env } from "../env.ts";

/** Asks the channel's ChannelSession to re-read its tasks and set its alarm. */
export async function armChannel(env: Env, channelId: string): Promise<void> {
  await sessionOf(env, channelId).arm(channelId);
}

/**
 * After a write to one of the channel's tasks: re-arms only if the write moved the channel's
 * earliest due time, read in the same D1 batch just before and just after it (issue 19: the
 * Durable Object call was among the heaviest work of a task's create and edit, and most
 * edits, and every task added behind an earlier one, leave the alarm where it is).
 *
 * Why skipping is safe: the ChannelSession's task alarm is a function of that earliest time
 * alone (ChannelSession #arm). Every write that moves it re-arms, and an arm reads D1 when
 * it runs, after its own write, so the alarm follows the latest earliest time even when two
 * writes race; a write that leaves it unchanged leaves the alarm right. The minute sweep
 * stays the safety net for an alarm lost any other way.
 */
export async function armIfMoved(env: Env, channelId: string, before: number | null, after: number | null): Promise<void> {
  if (before !== after) await armChannel(env, channelId);
}
