/**
 * Usage rows → stacked series per day, by channel or by model: pure, tested in Node. Each
 * series' values are cumulative (the bar is drawn from 0 to the top of its slice), so the
 * chart draws the last group first and the first on top of it.
 */
import type { Usage, UsageRow } from "../protocol/dashboard.ts";

export type StackBy = "channel" | "model";
export type Measure = "cost_usd" | "tokens";

export interface Stacked {
  days: string[];
  groups: { key: string; label: string; values: number[]; cumulative: number[]; total: number }[];
}

export function dayList(from: string, days: number): string[] {
  const start = Date.parse(from);
  return Array.from({ length: days }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

const measure = (r: UsageRow, m: Measure) => (m === "cost_usd" ? r.cost_usd : r.input_tokens + r.output_tokens);

export function stack(usage: Usage, by: StackBy, m: Measure): Stacked {
  const days = dayList(usage.from, usage.days);
  const index = new Map(days.map((d, i) => [d, i]));
  const byKey = new Map<string, number[]>();
  for (const r of usage.rows) {
    const key = by === "channel" ? r.channel_id : (r.model ?? "unknown");
    const i = index.get(r.day);
    if (i === undefined) continue;
    let values = byKey.get(key);
    if (!values) byKey.set(key, (values = days.map(() => 0)));
    values[i]! += measure(r, m);
  }
  const groups = [...byKey.entries()]
    .map(([key, values]) => ({
      key,
      label: by === "channel" ? (usage.channels[key] ?? key) : key,
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
