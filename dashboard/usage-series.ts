/**
 * The usage ledger's day × (channel | model) groups → stacked series per day: pure, tested in
 * Node. Each series' values are cumulative (the bar is drawn from 0 to the top of its slice),
 * so the chart draws the last group first and the first on top of it.
 */
import type { UsageGroup, UsageReport } from "../protocol/spend.ts";

export type StackBy = "channel" | "model";
export type Measure = "cost_usd" | "tokens";

export interface Stacked {
  days: string[];
  groups: { key: string; label: string; values: number[]; cumulative: number[]; total: number }[];
}

/** `days` calendar days ending with `today` (YYYY-MM-DD), oldest first. */
export function dayList(today: string, days: number): string[] {
  const end = Date.parse(`${today}T00:00:00Z`);
  return Array.from({ length: days }, (_, i) => new Date(end - (days - 1 - i) * 86_400_000).toISOString().slice(0, 10));
}

const measure = (g: UsageGroup, m: Measure) => (m === "cost_usd" ? g.cost_usd : g.input_tokens + g.output_tokens);

/** `report` is group_by=day&split_by=<by>; `names` labels channel ids. */
export function stack(report: UsageReport, days: string[], by: StackBy, m: Measure, names: Record<string, string> = {}): Stacked {
  const index = new Map(days.map((d, i) => [d, i]));
  const byKey = new Map<string, number[]>();
  for (const g of report.groups) {
    const key = g.split ?? (by === "model" ? "unknown" : "none");
    const i = index.get(g.key ?? "");
    if (i === undefined) continue;
    let values = byKey.get(key);
    if (!values) byKey.set(key, (values = days.map(() => 0)));
    values[i]! += measure(g, m);
  }
  const groups = [...byKey.entries()]
    .map(([key, values]) => ({
      key,
      label: by === "channel" ? (names[key] ?? key) : key,
      values,
      total: values.reduce((a, b) => a + b, 0),
      cumulative: [] as number[],
    }))
    .sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  const running = days.map(() => 0);
  for (const g of groups) {
    g.cumulative = g.values.map((v, i) => (running[i]! += v));
  }
  return { days, groups };
}
