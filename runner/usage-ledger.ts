/**
 * Per-run cost and tokens. On --resume the CLI restores the session's cost tracker, so its
 * `total_cost_usd` and `modelUsage` count every earlier run of the session again (measured:
 * test/fixtures/stream-json/resumed.jsonl reports two turns' cost for one). The runner
 * keeps what the CLI last reported per channel and reports the difference, so the Worker's
 * usage figures add up. `usage` in the result is already per invocation, but it stays zero
 * when the reply was interrupted mid-stream; then the modelUsage difference stands in.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ModelUsage, ResultInfo } from "./stream-json.ts";

interface Ledger {
  session_id: string;
  cost_usd: number;
  models: Record<string, ModelUsage>;
}

const FILE = "usage.json";

export function readLedger(channelDir: string): Ledger | null {
  try {
    const raw = JSON.parse(readFileSync(join(channelDir, FILE), "utf8"));
    return typeof raw?.session_id === "string" && typeof raw?.cost_usd === "number" && typeof raw?.models === "object" ? raw : null;
  } catch {
    return null;
  }
}

export function writeLedger(channelDir: string, result: ResultInfo): void {
  if (!result.sessionId || result.costUsd === null) return;
  const ledger: Ledger = { session_id: result.sessionId, cost_usd: result.costUsd, models: result.modelUsage };
  writeFileSync(join(channelDir, FILE), JSON.stringify(ledger));
}

export interface RunUsage {
  costUsd: number | null;
  usage: { input_tokens: number; output_tokens: number } | null;
}

/** This run's share of what the CLI reported; `resumed` is the session id passed to --resume. */
export function runUsage(result: ResultInfo, resumed: string | null, ledger: Ledger | null): RunUsage {
  const prev = resumed && ledger?.session_id === resumed && result.sessionId === resumed ? ledger : null;
  let costUsd = result.costUsd;
  // A smaller total than before means the CLI did not carry the session's cost over.
  if (prev && costUsd !== null && costUsd >= prev.cost_usd) costUsd = costUsd - prev.cost_usd;

  let usage = result.usage;
  if (!usage || usage.input_tokens + usage.output_tokens === 0) {
    let input = 0;
    let output = 0;
    for (const [model, m] of Object.entries(result.modelUsage)) {
      const before = prev?.models[model];
      input += Math.max(0, m.inputTokens - (before?.inputTokens ?? 0));
      output += Math.max(0, m.outputTokens - (before?.outputTokens ?? 0));
    }
    if (input + output > 0) usage = { input_tokens: Math.round(input), output_tokens: Math.round(output) };
  }
  return { costUsd: costUsd === null ? null : Math.round(costUsd * 1e9) / 1e9, usage };
}
