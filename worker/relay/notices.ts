/**
 * "You may not use Loop here" is said at most once a minute per user and channel: a
 * conditional upsert on discord_notices (user_id, channel_id) lets exactly one caller
 * through per window, however many duplicates or retries arrive at once.
 */
import { sql } from "drizzle-orm";
import type { Db } from "../../core/db/client.ts";
import { discordNotices } from "../../core/db/schema.ts";

/** The shortest time between two refusals to one user in one channel. */
export const NOTICE_INTERVAL_MS = 60_000;

/** True when this caller may send the notice now (and has claimed the window). */
export async function claimNotice(db: Db, userId: string, channelId: string, now: number): Promise<boolean> {
  const rows = await db
    .insert(discordNotices)
    .values({ userId, channelId, at: now })
    .onConflictDoUpdate({
      target: [discordNotices.userId, discordNotices.channelId],
      set: { at: now },
      setWhere: sql`${discordNotices.at} <= ${now - NOTICE_INTERVAL_MS}`,
    })
    .returning({ at: discordNotices.at });
  return rows.length > 0;
}
