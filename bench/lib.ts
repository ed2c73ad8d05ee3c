/**
 * Shared by the benchmarks: percentiles, a tiny authenticated client, and the result line
 * `npm run bench` collects. Benchmarks print figures; nothing here asserts.
 */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export const median = (values: number[]) => percentile(values, 50);
export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

export interface Figure {
  bench: string;
  figure: string;
  value: number;
  unit: string;
  /** e.g. "≤ 100"; compared with value by `npm run bench` when it has a number. */
  goal?: string;
}

/** One machine-readable line per figure, which bench/run.ts gathers into its table. */
export function report(figures: Figure[]): void {
  for (const f of figures) console.log(`BENCH_RESULT ${JSON.stringify(f)}`);
}

export function client(url: string, token: string) {
  return async function call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}
