/**
 * The 80 % warning (issue 14): when a finished run leaves a cap at or past WARN_AT of its
 * value, the channel's Discord channel hears it once per period. claimWarning's unique key
 * decides who posts; a channel without a Discord channel (or a Worker without a bot token)
 * still records the warning, so it is not repeated when Discord is configured later.
 */
import { eq } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { channels } from "../db/schema.ts";
import { discordRest } from "../discord/rest.ts";
import type { Config } from "../env.ts";
import { log } from "../log.ts";
import { describeCap, warnings } from "./budget-rule.ts";
import { claimWarning, type StartCheck } from "./budget-store.ts";

export function warningText(cap: { spentUsd: number; capUsd: number } & Parameters<typeof describeCap>[0]): string {
  const pct = Math.floor((cap.spentUsd / cap.capUsd) * 100);
  const after = cap.spentUsd >= cap.capUsd ? "Runs are skipped until the period ends or the cap is raised." : "Runs that would start past the cap will be skipped.";
  return `⚠️ **Budget at ${pct} %**: ${describeCap(cap)}. ${after}`;
}

/** A thread's spend counts against its channel's caps: the channel (check.budgetChannelId) hears the warning, once. */
export async function warnBudget(db: Db, cfg: Config, check: StartCheck, now: number): Promise<number> {
  const channelId = check.budgetChannelId;
  let posted = 0;
  for (const cap of warnings(check.spend)) {
    if (!(await claimWarning(db, channelId, cap, check.periods, now))) continue;
    log.info("budget: warning", { channelId, scope: cap.scope, period: cap.period, spentUsd: cap.spentUsd, capUsd: cap.capUsd });
    const rest = discordRest(cfg);
    if (!rest.hasBotToken) continue;
    const channel = await db.query.channels.findFirst({ where: eq(channels.id, channelId), columns: { discordChannelId: true } });
    if (!channel?.discordChannelId) continue;
    const res = await rest.createMessage(channel.discordChannelId, { content: warningText(cap), allowed_mentions: { parse: [] } });
    if (res.ok) posted++;
    else log.warn("budget: Discord refused the warning", { channelId, status: res.status });
  }
  return posted;
}
