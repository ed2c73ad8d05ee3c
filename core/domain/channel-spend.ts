/**
 * One channel's spend at a glance, for `/loop usage` (issue 14): today, the last 7 and the
 * last 30 days, in total and per task. One D1 statement: conditional sums over the 30 days'
 * runs of the channel, grouped by task, with each task's prompt joined in. A Discord
 * interaction must be answered within 3 s, so the command makes one round trip, not one per
 * window. Days are UTC days, as budgets count them: "7 days" is today and the 6 before.
 */
import { SPEND_WINDOWS, type SpendWindow } from "../../protocol/spend.ts";
import { startOfUtcDay } from "./overview.ts";

const DAY_MS = 86_400_000;

const WINDOW_DAYS: Record<SpendWindow, number> = { today: 1, "7d": 7, "30d": 30 };

/** How much of a task's prompt the statement returns: enough for one line in Discord. */
const PROMPT_CHARS = 120;

export interface WindowFigures {
  /** Runs that finished (skipped ones apart). */
  runs: number;
  skipped: number;
  costUsd: number;
  inputTokens: number;
  outputTokens: number;
}

export interface TaskSpend {
  /** null: runs of no task (asks, MCP, REST, loops, relayed messages). */
  taskId: number | null;
  /** The task's prompt (cut), null for no task or a task since deleted. */
  prompt: string | null;
  windows: Record<SpendWindow, WindowFigures>;
}

export interface ChannelSpend {
  /** Each window's start (ms, UTC midnight). */
  since: Record<SpendWindow, number>;
  total: Record<SpendWindow, WindowFigures>;
  tasks: TaskSpend[];
}

const COLUMNS: [keyof WindowFigures, (cond: string) => string][] = [
  ["runs", (c) => `sum(${c} AND r.status <> 'skipped_budget')`],
  ["skipped", (c) => `sum(${c} AND r.status = 'skipped_budget')`],
  ["costUsd", (c) => `total(CASE WHEN ${c} THEN r.cost_usd END)`],
  ["inputTokens", (c) => `total(CASE WHEN ${c} THEN r.input_tokens END)`],
  ["outputTokens", (c) => `total(CASE WHEN ${c} THEN r.output_tokens END)`],
];

// ?1 the channel, ?2.. each window's start, in SPEND_WINDOWS order; the last is the widest.
// The channel's threads are conversations inside it and spend its budget: their runs count here.
const STATEMENT = `
SELECT r.task_id AS task_id, substr(t.prompt, 1, ${PROMPT_CHARS}) AS prompt,
  ${SPEND_WINDOWS.flatMap((w, i) => COLUMNS.map(([name, expr]) => `${expr(`r.finished_at >= ?${i + 2}`)} AS "${w}.${name}"`)).join(",\n  ")}
FROM runs r LEFT JOIN tasks t ON t.id = r.task_id
WHERE r.channel_id IN (SELECT id FROM channels WHERE id = ?1 OR parent_id = ?1) AND r.finished_at >= ?${SPEND_WINDOWS.length + 1}
GROUP BY r.task_id`;

const zero = (): WindowFigures => ({ runs: 0, skipped: 0, costUsd: 0, inputTokens: 0, outputTokens: 0 });

export async function channelSpend(d1: D1Database, channelId: string, now: number): Promise<ChannelSpend> {
  const today = startOfUtcDay(now);
  const since = Object.fromEntries(SPEND_WINDOWS.map((w) => [w, today - (WINDOW_DAYS[w] - 1) * DAY_MS])) as Record<SpendWindow, number>;
  const { results } = await d1
    .prepare(STATEMENT)
    .bind(channelId, ...SPEND_WINDOWS.map((w) => since[w]))
    .all<Record<string, number | string | null>>();
  const total = Object.fromEntries(SPEND_WINDOWS.map((w) => [w, zero()])) as Record<SpendWindow, WindowFigures>;
  const tasks = results.map((row): TaskSpend => {
    const windows = Object.fromEntries(
      SPEND_WINDOWS.map((w) => [w, Object.fromEntries(COLUMNS.map(([name]) => [name, Number(row[`${w}.${name}`] ?? 0)])) as unknown as WindowFigures]),
    ) as Record<SpendWindow, WindowFigures>;
    for (const w of SPEND_WINDOWS) for (const [name] of COLUMNS) total[w][name] += windows[w][name];
    return { taskId: row.task_id === null ? null : Number(row.task_id), prompt: (row.prompt as string | null) ?? null, windows };
  });
  return { since, total, tasks };
}
