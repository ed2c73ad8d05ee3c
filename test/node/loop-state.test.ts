// The loop's pure rules (core/loops/loop-state.ts) and its prompt layout (loop-prompt.ts).
import { describe, expect, it } from "vitest";
import { MAX_LOOP_ITERATIONS } from "../../protocol/api.ts";
import { iterationPrompt, keepTail, MONITOR_PROMPT_CHARS, PREVIOUS_ANSWER_CHARS, type IterationParts } from "../../core/loops/loop-prompt.ts";
import { afterIteration, MAX_FAILED_ITERATIONS_IN_ROW, monitorDue, type EndedIteration, type LoopFacts } from "../../core/loops/loop-state.ts";

const T0 = Date.UTC(2026, 10, 29, 12, 0, 0);
const loop = (over: Partial<LoopFacts> = {}): LoopFacts => ({
  status: "running",
  iteration: 1,
  maxIterations: 0,
  everyMs: 0,
  untilText: null,
  failuresInRow: 0,
  doneRunId: null,
  summary: null,
  ...over,
});
const ended = (over: Partial<EndedIteration> = {}): EndedIteration => ({ runId: 10, iteration: 1, status: "succeeded", resultText: "ok", error: null, startedAt: T0, ...over });

describe("afterIteration", () => {
  it("queues the next iteration now when every is 0", () => {
    expect(afterIteration(loop(), ended(), T0 + 5_000)).toEqual({ kind: "next", iteration: 2, at: T0 + 5_000, failuresInRow: 0 });
  });

  it("spaces starts by every, counted from the previous start, never earlier than now", () => {
    expect(afterIteration(loop({ everyMs: 60_000 }), ended(), T0 + 5_000)).toMatchObject({ kind: "next", at: T0 + 60_000 });
    // The iteration took longer than every: the next is due at once, not in a burst of catch-ups.
    expect(afterIteration(loop({ everyMs: 60_000 }), ended(), T0 + 90_000)).toMatchObject({ kind: "next", at: T0 + 90_000 });
  });

  it("ends with loop_done when this iteration's run called it, whatever its status", () => {
    for (const status of ["succeeded", "failed", "cancelled"]) {
      expect(afterIteration(loop({ doneRunId: 10, summary: "all green" }), ended({ status }), T0)).toEqual({ kind: "end", status: "done", reason: "loop_done", summary: "all green" });
    }
    // An older iteration's call does not count for this one.
    expect(afterIteration(loop({ iteration: 2, doneRunId: 9 }), ended({ runId: 11, iteration: 2 }), T0).kind).toBe("next");
  });

  it("ends when a succeeded answer contains the until text, case-insensitively", () => {
    expect(afterIteration(loop({ untilText: "ALL TESTS PASS" }), ended({ resultText: "Done: all tests pass." }), T0)).toMatchObject({ kind: "end", status: "done", reason: "until" });
    expect(afterIteration(loop({ untilText: "all tests pass" }), ended({ resultText: "3 tests fail" }), T0).kind).toBe("next");
    expect(afterIteration(loop({ untilText: "pass" }), ended({ status: "failed", resultText: "pass" }), T0).kind).toBe("next");
  });

  it("ends at max_iterations, and at the global cap when max_iterations is 0", () => {
    expect(afterIteration(loop({ iteration: 3, maxIterations: 3 }), ended({ iteration: 3 }), T0)).toMatchObject({ kind: "end", status: "done", reason: "max_iterations" });
    expect(afterIteration(loop({ iteration: 2, maxIterations: 3 }), ended({ iteration: 2 }), T0).kind).toBe("next");
    expect(afterIteration(loop({ iteration: MAX_LOOP_ITERATIONS }), ended({ iteration: MAX_LOOP_ITERATIONS }), T0)).toMatchObject({ kind: "end", reason: "max_iterations" });
  });

  it("counts failed and lost iterations in a row, resets on success, and ends after the maximum", () => {
    expect(afterIteration(loop(), ended({ status: "failed" }), T0)).toMatchObject({ kind: "next", failuresInRow: 1 });
    expect(afterIteration(loop({ failuresInRow: 1 }), ended({ status: "succeeded" }), T0)).toMatchObject({ kind: "next", failuresInRow: 0 });
    const last = afterIteration(loop({ failuresInRow: MAX_FAILED_ITERATIONS_IN_ROW - 1 }), ended({ status: "lost", error: "runner lost" }), T0);
    expect(last).toMatchObject({ kind: "end", status: "failed", reason: "iteration_failed" });
    expect(last.kind === "end" && last.summary).toContain("runner lost");
  });

  it("ends as stopped when the iteration ended any other way (cancelled, skipped by a budget)", () => {
    expect(afterIteration(loop(), ended({ status: "cancelled", error: "cancelled" }), T0)).toMatchObject({ kind: "end", status: "stopped", reason: "iteration_ended" });
    expect(afterIteration(loop(), ended({ status: "skipped_budget" }), T0)).toMatchObject({ kind: "end", status: "stopped" });
  });

  it("ignores a loop that is no longer running, and an iteration that is not the newest", () => {
    expect(afterIteration(loop({ status: "stopped" }), ended(), T0)).toEqual({ kind: "ignore" });
    expect(afterIteration(loop({ iteration: 2 }), ended({ iteration: 1 }), T0)).toEqual({ kind: "ignore" });
  });
});

describe("monitorDue", () => {
  it("runs before every iteration by default, at most every monitor_every otherwise, never without a command", () => {
    expect(monitorDue({ monitorCommand: null, monitorEveryMs: 0 }, null, T0)).toBe(false);
    expect(monitorDue({ monitorCommand: "date", monitorEveryMs: 0 }, T0, T0)).toBe(true);
    expect(monitorDue({ monitorCommand: "date", monitorEveryMs: 60_000 }, null, T0)).toBe(true);
    expect(monitorDue({ monitorCommand: "date", monitorEveryMs: 60_000 }, T0, T0 + 59_999)).toBe(false);
    expect(monitorDue({ monitorCommand: "date", monitorEveryMs: 60_000 }, T0, T0 + 60_000)).toBe(true);
  });
});

const parts = (over: Partial<IterationParts> = {}): IterationParts => ({
  iteration: 2,
  maxIterations: 5,
  untilText: null,
  prompt: "Fix the failing test.",
  persistentMemory: "",
  workingMemory: "",
  monitor: null,
  previous: null,
  ...over,
});

describe("iterationPrompt", () => {
  it("lays out header, persistent memory, working memory, monitor output, previous answer, then the prompt", () => {
    const text = iterationPrompt(
      parts({
        untilText: "DONE",
        persistentMemory: "goal: green CI",
        workingMemory: "try the cache first",
        monitor: { command: 'npm test 2>&1 | tail -n 5', output: "1 failing\n", exitCode: 1, at: T0 },
        previous: { iteration: 1, answer: "I looked at the test." },
      }),
    );
    expect(text).toBe(
      [
        '<loop iteration="2" max_iterations="5">',
        "This is iteration 2 of at most 5 of a loop that gives you the prompt at the end again and again. When the work is finished, call the loop_done tool with a short summary and the loop stops. " +
          'The loop also ends when your answer contains "DONE". Keep notes with memory_set and memory_append: persistent memory stays across iterations and loops, working memory is cleared when this iteration ends.',
        "</loop>",
        "",
        "<persistent_memory>\ngoal: green CI\n</persistent_memory>",
        "",
        "<working_memory>\ntry the cache first\n</working_memory>",
        "",
        `<monitor_output command="npm test 2>&1 | tail -n 5" exit_code="1" at="2026-11-29T12:00:00.000Z">\n1 failing\n</monitor_output>`,
        "",
        '<previous_answer iteration="1">\nI looked at the test.\n</previous_answer>',
        "",
        "Fix the failing test.",
      ].join("\n"),
    );
  });

  it("leaves out empty sections, and says when a monitor produced nothing or did not exit", () => {
    const first = iterationPrompt(parts({ iteration: 1, maxIterations: 0 }));
    expect(first).not.toMatch(/memory>|monitor_output|previous_answer/);
    expect(first).toContain("This is iteration 1 of a loop");
    expect(first.endsWith("\n\nFix the failing test.")).toBe(true);
    const silent = iterationPrompt(parts({ monitor: { command: 'say "hi"', output: "  ", exitCode: null, at: T0 } }));
    expect(silent).toContain(`<monitor_output command="say 'hi'" exit_code="none (did not exit in time)"`);
    expect(silent).toContain("\n(no output)\n</monitor_output>");
  });

  it("keeps the end of long monitor output and answers, saying how much was cut", () => {
    const log = Array.from({ length: 2_000 }, (_, i) => `line ${i}`).join("\n");
    const answer = "a".repeat(PREVIOUS_ANSWER_CHARS + 10) + "CONCLUSION";
    const text = iterationPrompt(parts({ monitor: { command: "cat log", output: log, exitCode: 0, at: T0 }, previous: { iteration: 1, answer } }));
    expect(text).toContain(`[… ${log.length - MONITOR_PROMPT_CHARS} earlier characters cut]`);
    expect(text).toContain("line 1999\n</monitor_output>");
    expect(text).not.toContain("line 0\n");
    expect(text).toContain(`[… 20 earlier characters cut]`);
    expect(text).toContain("CONCLUSION\n</previous_answer>");
    expect(keepTail("short", 10)).toBe("short");
  });
});
