/**
 * The usage ledger (issue 14): tokens, cost and run counts per day, channel, task or model,
 * computed from the runs themselves with one grouped query. No rollup table: a run is
 * counted by when it finished, the (finished_at, cost_usd) and (channel_id, finished_at,
 * cost_usd) indexes bound the scan to the period asked for, and an exact answer for any
 * from/to and any time zone needs the per-run times a daily rollup would throw away.
 * (Not benchmarked yet: the scan cost at large run counts is an open measurement.)
 *
 * Days in a time zone: SQL groups by quarter hour (every IANA offset in use is a multiple
 * of 15 minutes), and the quarters fold into local days here, so daylight-saving days of
 * 23 or 25 hours come out right.
 */
import { sql, type SQL } from "drizzle-orm";
import { MAX_USAGE_DAYS, type UsageFigures, type UsageGroup, type UsageGroupBy, type UsageQuery, type UsageReport } from "../../protocol/spend.ts";
import { invalid } from "../errors.ts";
import { visibleChannels } from "./actor.ts";
import { loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { localDay, QUARTER_MS, startOfLocalDay } from "./local-day.ts";
import { loadTask } from "./tasks.ts";

const DAY_MS = 86_400_000;
export const DEFAULT_USAGE_DAYS = 30;

interface Row {
  k: string | number | null;
  s: string | number | null;
  runs: number;
  skipped: number;
  input_tokens: number;
  output_tokens: number;
  cache_read_tokens: number;
  cache_write_tokens: number;
  cost_usd: number;
}

export const zeroFigures = (): UsageFigures => ({ runs: 0, skipped_budget: 0, input_tokens: 0, output_tokens: 0, cache_read_tokens: 0, cache_write_tokens: 0, cost_usd: 0 });

function add(into: UsageFigures, r: Row | UsageFigures): void {
  into.runs += r.runs;
  into.skipped_budget += "skipped" in r ? r.skipped : r.skipped_budget;
  into.input_tokens += r.input_tokens;
  into.output_tokens += r.output_tokens;
  into.cache_read_tokens += r.cache_read_tokens;
  into.cache_write_tokens += r.cache_write_tokens;
  into.cost_usd += r.cost_usd;
}

/** Sums of floats drift in the last bits; cost is stored to 1e-9 USD by the runner. */
const tidy = (f: UsageFigures): UsageFigures => ({ ...f, cost_usd: Math.round(f.cost_usd * 1e9) / 1e9 });

export function checkTimeZone(tz: string): string {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return tz;
  } catch {
    throw invalid(`tz: "${tz}" is not an IANA time zone (e.g. Europe/Berlin).`, "tz");
  }
}

const instant = (v: string, tz: string, field: string): number => {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(v) ? startOfLocalDay(v, tz) : Date.parse(v);
  if (!Number.isFinite(ms)) throw invalid(`${field}: not a time`, field);
  return ms;
};

export async function usageReport(ctx: DomainContext, q: UsageQuery, now = Date.now()): Promise<UsageReport> {
  const tz = checkTimeZone(q.tz ?? "UTC");
  const to = q.to ? instant(q.to, tz, "to") : now;
  const from = q.from ? instant(q.from, tz, "from") : to - DEFAULT_USAGE_DAYS * DAY_MS;
  if (from >= to) throw invalid("from: must be before to", "from");
  if (to - from > MAX_USAGE_DAYS * DAY_MS) throw invalid(`from: a report covers at most ${MAX_USAGE_DAYS} days`, "from");

  const where: SQL[] = [sql`finished_at >= ${from}`, sql`finished_at < ${to}`];
  if (q.channel_id) {
    where.push(sql`channel_id = ${(await loadChannel(ctx, q.channel_id)).id}`);
  } else {
    const visible = visibleChannels(ctx.actor);
    if (visible) where.push(visible.length ? sql`channel_id IN (${sql.join(visible.map((v) => sql`${v}`), sql`, `)})` : sql`0`);
  }
  if (q.task_id) {
    const task = await loadTask(ctx, q.task_id);
    where.push(sql`task_id = ${task.id}`);
  }
  const groupBy = q.group_by ?? null;
  const splitBy = q.split_by ?? null;
  if (splitBy && !groupBy) throw invalid("split_by: needs group_by", "split_by");
  if (splitBy && splitBy === groupBy) throw invalid("split_by: must differ from group_by", "split_by");

  const rows = await ctx.db.all<Row>(sql`
    SELECT ${keyOf(groupBy)} AS k, ${keyOf(splitBy)} AS s,
      sum(status <> 'skipped_budget') AS runs,
      sum(status = 'skipped_budget') AS skipped,
      total(input_tokens) AS input_tokens, total(output_tokens) AS output_tokens,
      total(cache_read_tokens) AS cache_read_tokens, total(cache_write_tokens) AS cache_write_tokens,
      total(cost_usd) AS cost_usd
    FROM runs WHERE ${sql.join(where, sql` AND `)}
    ${groupBy ? sql`GROUP BY k, s` : sql``}`);

  const total = zeroFigures();
  // Quarter hours fold into local days here, so one (key, split) can gather several rows.
  const groups = new Map<string, { key: string | null; split: string | null; figures: UsageFigures }>();
  for (const r of rows) {
    if (r.runs === null) continue; // an aggregate over no rows
    add(total, r);
    const key = readKey(groupBy, r.k, tz);
    const split = readKey(splitBy, r.s, tz);
    const id = JSON.stringify([key, split]);
    const g = groups.get(id) ?? { key, split, figures: zeroFigures() };
    add(g.figures, r);
    groups.set(id, g);
  }
  const list: UsageGroup[] = [...groups.values()].map((g) => ({ key: g.key, ...(splitBy ? { split: g.split } : {}), ...tidy(g.figures) }));
  if (groupBy === "day") list.sort((a, b) => (a.key! < b.key! ? -1 : a.key! > b.key! ? 1 : b.cost_usd - a.cost_usd));
  else list.sort((a, b) => b.cost_usd - a.cost_usd || String(a.key).localeCompare(String(b.key)));
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    tz,
    group_by: groupBy,
    split_by: splitBy,
    total: tidy(total),
    groups: groupBy ? list : [],
  };
}

function keyOf(by: UsageGroupBy | null): SQL {
  switch (by) {
    case "day":
      return sql`finished_at / ${QUARTER_MS}`;
    case "channel":
      return sql`channel_id`;
    case "task":
      return sql`task_id`;
    case "model":
      return sql`model`;
    case null:
      return sql`NULL`;
  }
}

function readKey(by: UsageGroupBy | null, v: string | number | null, tz: string): string | null {
  if (by === "day") return localDay(Number(v) * QUARTER_MS, tz);
  return v === null ? null : String(v);
}
