// The dashboard's pure view rules: the run transcript built from SSE events, and usage rows
// stacked per day. The browser test (test/e2e/dashboard.test.ts) drives the pages themselves.
import { describe, expect, it } from "vitest";
import { applyEvent, emptyTranscript, fold, FOLD_LINES, type Transcript } from "../../dashboard/transcript.ts";
import { dayList, stack } from "../../dashboard/usage-series.ts";
import type { RunEventData } from "../../protocol/runner.ts";
import type { UsageReport } from "../../protocol/spend.ts";

const apply = (events: [number, RunEventData][]): Transcript => events.reduce((t, [seq, d]) => applyEvent(t, seq, d), emptyTranscript);

describe("run transcript", () => {
  it("puts each tool's result beside its call and keeps text in order", () => {
    const t = apply([
      [1, { type: "text", text: "Looking." }],
      [2, { type: "tool_use", id: "a", name: "Bash", input: "ls" }],
      [3, { type: "tool_use", id: "b", name: "Read", input: "README.md" }],
      [4, { type: "tool_result", tool_use_id: "b", is_error: false, output: "# Loop" }],
      [5, { type: "tool_result", tool_use_id: "a", is_error: true, output: "denied" }],
      [6, { type: "text", text: "Done." }],
    ]);
    expect(t.items.map((i) => i.kind)).toEqual(["text", "tool", "tool", "text"]);
    expect(t.items[1]).toMatchObject({ name: "Bash", result: { output: "denied", isError: true } });
    expect(t.items[2]).toMatchObject({ name: "Read", result: { output: "# Loop", isError: false } });
    expect(t.lastSeq).toBe(6);
  });

  it("drops events it has already applied, as a resumed stream may repeat them", () => {
    const once = apply([
      [1, { type: "text", text: "a" }],
      [2, { type: "text", text: "b" }],
    ]);
    const again = applyEvent(applyEvent(once, 2, { type: "text", text: "b" }), 1, { type: "text", text: "a" });
    expect(again).toBe(once);
  });

  it("shows a held call and the decision on it as notices, with who decided", () => {
    const held = apply([
      [1, { type: "tool_use", id: "t1", name: "Bash", input: "rm -rf build" }],
      [2, { type: "approval_requested", deferral: 1, tool_use_id: "t1", name: "Bash", input: "rm -rf build" }],
    ]);
    expect(held.items[0]).toMatchObject({ kind: "tool", held: true, result: null });
    const decided = applyEvent(held, 3, { type: "approval_decided", deferral: 1, tool_use_id: "t1", decision: "approve", by: "admin", reason: null, rule: null });
    expect(decided.items[0]).toMatchObject({ kind: "tool", held: false });

    const t = apply([
      [1, { type: "approval_requested", deferral: 1, tool_use_id: "t1", name: "Bash", input: "rm -rf build" }],
      [2, { type: "approval_decided", deferral: 1, tool_use_id: "t1", decision: "always_allow", by: "tok_1", reason: null, rule: "Bash(rm -rf build)" }],
      [3, { type: "approval_decided", deferral: 2, tool_use_id: "t2", decision: "deny", by: "expiry", reason: "no decision", rule: null }],
    ]);
    expect(t.items.map((i) => (i.kind === "notice" ? i.message : i.kind))).toEqual([
      "Held for approval: Bash (deferral 1).",
      "Always allowed by tok_1 (rule Bash(rm -rf build) added).",
      "Denied: nobody decided before the approval timeout.",
    ]);
  });

  it("keeps a result whose call it never saw (the call was pruned) as its own item", () => {
    const t = apply([[7, { type: "tool_result", tool_use_id: "gone", is_error: false, output: "x" }]]);
    expect(t.items).toEqual([{ kind: "result", seq: 7, toolUseId: "gone", output: "x", isError: false }]);
  });

  it("folds long output and leaves short output open", () => {
    expect(fold("one\ntwo")).toEqual({ head: "one\ntwo", folded: false, lines: 2 });
    const long = Array.from({ length: 40 }, (_, i) => `line ${i}`).join("\n");
    const f = fold(long);
    expect(f.folded).toBe(true);
    expect(f.lines).toBe(40);
    expect(f.head.split("\n")).toHaveLength(FOLD_LINES);
    expect(fold("x".repeat(5000)).folded).toBe(true);
  });
});

describe("usage stacked per day", () => {
  const figures = { runs: 1, skipped_budget: 0, cache_read_tokens: 0, cache_write_tokens: 0 };
  const report = (split_by: "channel" | "model", groups: [string, string | null, number, number, number][]): UsageReport => ({
    from: "2026-11-27T00:00:00.000Z",
    to: "2026-11-30T00:00:00.000Z",
    tz: "UTC",
    group_by: "day",
    split_by,
    total: { ...figures, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    groups: groups.map(([key, split, input_tokens, output_tokens, cost_usd]) => ({ ...figures, key, split, input_tokens, output_tokens, cost_usd })),
  });
  const days = ["2026-11-27", "2026-11-28", "2026-11-29"];

  it("lists every day of the range up to today, with the days that had no runs", () => {
    expect(dayList("2026-11-29", 3)).toEqual(days);
    expect(dayList("2026-03-01", 2)).toEqual(["2026-02-28", "2026-03-01"]);
  });

  it("stacks cost by channel, biggest first, with cumulative tops and the channels' names", () => {
    const byChannel = report("channel", [
      ["2026-11-27", "a", 10, 5, 1],
      ["2026-11-29", "b", 100, 100, 3],
      ["2026-11-29", "a", 1, 1, 0.5],
      ["2026-11-20", "a", 1, 1, 50], // outside the days shown
    ]);
    const s = stack(byChannel, days, "channel", "cost_usd", { a: "alpha", b: "beta" });
    expect(s.groups.map((g) => [g.label, g.values, g.cumulative, g.total])).toEqual([
      ["beta", [0, 0, 3], [0, 0, 3], 3],
      ["alpha", [1, 0, 0.5], [1, 0, 3.5], 1.5],
    ]);
  });

  it("stacks tokens by model; runs without a model count as unknown", () => {
    const byModel = report("model", [
      ["2026-11-27", "opus", 10, 5, 1],
      ["2026-11-29", "opus", 100, 100, 3],
      ["2026-11-29", null, 1, 1, 0.5],
    ]);
    const s = stack(byModel, days, "model", "tokens");
    expect(s.groups.map((g) => [g.key, g.values])).toEqual([
      ["opus", [15, 0, 200]],
      ["unknown", [0, 0, 2]],
    ]);
  });
});
