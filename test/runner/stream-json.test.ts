// The stream-json parser and line splitter on real CLI output (test/fixtures/stream-json,
// captured by claude-in-docker.test.ts) plus the garbage a process can print.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { RunEventData } from "../../protocol/runner.ts";
import { sessionWasMissing, stdinFor, type AgentOutcome } from "../../runner/agent.ts";
import { LineSplitter } from "../../runner/line-splitter.ts";
import { MAX_LINE_BYTES, MAX_TOOL_INPUT_CHARS, MAX_TOOL_OUTPUT_CHARS, StreamJsonParser } from "../../runner/stream-json.ts";
import { runUsage } from "../../runner/usage-ledger.ts";

const fixture = (name: string) => readFileSync(resolve(import.meta.dirname, "../fixtures/stream-json", name), "utf8");

function parse(text: string) {
  const parser = new StreamJsonParser();
  const events = text.split("\n").flatMap((l) => parser.line(l));
  // Everything the parser emits must be valid on the wire.
  for (const e of events) RunEventData.parse(e);
  return { parser, events, result: parser.result };
}

describe("stream-json parser on real CLI output", () => {
  it("a text answer: init, one text event, and a successful result with usage and cost", () => {
    const { events, result, parser } = parse(fixture("text.jsonl"));
    expect(events.map((e) => e.type)).toEqual(["init", "text"]);
    expect(events[0]).toMatchObject({ type: "init", model: "claude-opus-5-5", session_id: "c718d357-cf37-4421-9dae-6a354b110033" });
    expect((events[0] as { tools: string[] }).tools).toContain("Bash");
    expect(events[1]).toEqual({ type: "text", text: "Hello from the fake model." });
    expect(result).toMatchObject({ isError: false, text: "Hello from the fake model.", sessionId: "c718d357-cf37-4421-9dae-6a354b110033", usage: { input_tokens: 42, output_tokens: 7 }, costUsd: 0.000308 });
    expect(parser.model).toBe("claude-opus-5-5");
  });

  it("a tool run: text, tool_use (input as JSON text), tool_result, text", () => {
    const { events, result } = parse(fixture("tool-use.jsonl"));
    expect(events.map((e) => e.type)).toEqual(["init", "text", "tool_use", "tool_result", "text"]);
    const use = events[2] as Extract<RunEventData, { type: "tool_use" }>;
    expect(use.name).toBe("Bash");
    expect(JSON.parse(use.input).command).toContain("/work/project/notes/out.txt");
    expect(events[3]).toEqual({ type: "tool_result", tool_use_id: use.id, is_error: false, output: "1000" });
    expect(result).toMatchObject({ isError: false, text: "The file is written.", usage: { input_tokens: 20, output_tokens: 10 } });
  });

  it("an MCP tool: block-array tool results are flattened to text", () => {
    const { events } = parse(fixture("mcp-tool.jsonl"));
    const results = events.filter((e) => e.type === "tool_result");
    expect(results.map((r) => r.output)).toEqual(["[tool mcp__loop__schedule_task]", 'scheduled "standup" at 0 9 * * 1-5']);
    expect(events.some((e) => e.type === "notice")).toBe(false); // the server connected
  });

  it("a rejected key: retries and the synthetic API error become notices; is_error fails it although subtype is success", () => {
    const { events, result } = parse(fixture("error-auth.jsonl"));
    expect(events.map((e) => e.type)).toEqual(["init", "notice", "notice"]);
    expect(events[1]).toMatchObject({ message: expect.stringContaining("401 authentication_failed") });
    expect(events[2]).toMatchObject({ message: expect.stringContaining("Invalid API key") });
    expect(result).toMatchObject({ subtype: "success", isError: true, text: "Invalid API key · Fix external API key" });
  });

  it("a vanished session: no events, and the error is recognised for that exact id only", () => {
    const { events, result } = parse(fixture("error-resume-not-found.jsonl"));
    expect(events).toEqual([]);
    const outcome: AgentOutcome = { exitCode: 1, oomKilled: false, timedOut: false, stalled: false, result, sessionId: null, model: null, stderrTail: "", startError: null };
    expect(sessionWasMissing(outcome, "00000000-0000-4000-8000-000000000000")).toBe(true);
    expect(sessionWasMissing(outcome, "11111111-0000-4000-8000-000000000000")).toBe(false);
  });

  it("a call a PreToolUse hook deferred: the result names it (Claude Code 2.1.330)", () => {
    const { events, result } = parse(fixture("deferred.jsonl"));
    expect(events.filter((e) => e.type === "tool_use")).toEqual([{ type: "tool_use", id: "toolu_01", name: "Bash", input: JSON.stringify({ command: "echo hi > /srv/demo/out.txt", description: "write" }) }]);
    expect(result).toMatchObject({ isError: false, terminalReason: "tool_deferred", deferredToolUse: { id: "toolu_01", name: "Bash", input: { command: "echo hi > /srv/demo/out.txt", description: "write" } } });
  });

  it("an interrupted reply: usage is zero, so tokens come from modelUsage", () => {
    const { result } = parse(fixture("interrupted.jsonl"));
    expect(result).toMatchObject({ isError: true, terminalReason: "aborted_streaming", usage: { input_tokens: 0, output_tokens: 0 } });
    expect(runUsage(result!, null, null)).toEqual({ costUsd: 0.00032, usage: { input_tokens: 10, output_tokens: 14 } });
  });

  it("a resumed session: the CLI's cumulative cost is reduced to this run's share", () => {
    const { result } = parse(fixture("resumed.jsonl"));
    const id = "656fbcd0-e4d8-48cb-b31f-cde8b68f28dd";
    // What the first run of the session reported: one turn of 10 in / 5 out.
    const ledger = { session_id: id, cost_usd: 0.00014, models: { "claude-opus-5-5": { inputTokens: 10, outputTokens: 5, costUsd: 0.00014 } } };
    expect(runUsage(result!, id, ledger)).toEqual({ costUsd: 0.00014, usage: { input_tokens: 10, output_tokens: 5 } });
    // Without a ledger (or for another session) the CLI's figure is reported as it is.
    expect(runUsage(result!, id, null).costUsd).toBeCloseTo(0.00028);
    expect(runUsage(result!, id, { ...ledger, session_id: "other" }).costUsd).toBeCloseTo(0.00028);
  });

  it("tolerates garbage: blank, non-JSON, non-object and unknown lines are skipped", () => {
    const parser = new StreamJsonParser();
    const lines = ["", "   ", "Warning: something odd", "{broken json", "[1,2,3]", "42", '"text"', '{"type":"stream_event","event":{}}', '{"type":"assistant"}', '{"type":"user","message":{"content":"plain"}}'];
    expect(lines.flatMap((l) => parser.line(l))).toEqual([]);
    expect(parser.skippedLines).toBe(5);
    expect(parser.result).toBeNull();
  });

  it("truncates long tool inputs and outputs to a summary that says how much was cut", () => {
    const parser = new StreamJsonParser();
    const big = "x".repeat(50_000);
    const [use] = parser.line(JSON.stringify({ type: "assistant", message: { model: "m", content: [{ type: "tool_use", id: "t1", name: "Write", input: { content: big } }] } }));
    const [res] = parser.line(JSON.stringify({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: "t1", content: big, is_error: true }] } }));
    expect(use).toMatchObject({ type: "tool_use", name: "Write" });
    expect((use as { input: string }).input.length).toBeLessThan(MAX_TOOL_INPUT_CHARS + 50);
    expect((use as { input: string }).input).toMatch(/… \[\d+ more characters\]$/);
    expect(res).toMatchObject({ type: "tool_result", is_error: true });
    expect((res as { output: string }).output.length).toBeLessThan(MAX_TOOL_OUTPUT_CHARS + 50);
  });
});

describe("line splitter", () => {
  const split = (chunks: Buffer[], max = MAX_LINE_BYTES) => {
    const lines: string[] = [];
    const oversize: number[] = [];
    const s = new LineSplitter(max, (l) => lines.push(l), (n) => oversize.push(n));
    for (const c of chunks) s.push(c);
    s.end();
    return { lines, oversize };
  };

  it("joins lines across chunks, keeps multi-byte characters split between chunks, emits a last line without newline", () => {
    const bytes = Buffer.from('{"a":"héllo"}\nsecond line\nlast', "utf8");
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)); // one byte at a time
    expect(split(chunks).lines).toEqual(['{"a":"héllo"}', "second line", "last"]);
  });

  it("drops a line over the cap without buffering it, reports its size, and keeps the lines around it", () => {
    const huge = Buffer.alloc(3 * MAX_LINE_BYTES, "y");
    const chunks = [Buffer.from("before\n"), ...Array.from({ length: 48 }, (_, i) => huge.subarray(i * 65_536, (i + 1) * 65_536)), Buffer.from("\nafter\n")];
    const { lines, oversize } = split(chunks);
    expect(lines).toEqual(["before", "after"]);
    expect(oversize).toEqual([3 * MAX_LINE_BYTES]);
  });

  it("a long result line under the cap is parsed whole", () => {
    const text = "z".repeat(300_000);
    const line = JSON.stringify({ type: "result", is_error: false, result: text, session_id: "s" });
    const parser = new StreamJsonParser();
    const s = new LineSplitter(MAX_LINE_BYTES, (l) => parser.line(l), () => {});
    s.push(Buffer.from(`${line}\n`));
    expect(parser.result?.text).toHaveLength(300_000);
  });
});

describe("container stdin", () => {
  it("credentials as KEY=VALUE lines, an empty line, then the prompt", () => {
    expect(stdinFor([{ name: "ANTHROPIC_API_KEY", value: "k" }], "do it\nplease")).toBe("ANTHROPIC_API_KEY=k\n\ndo it\nplease");
  });
});
