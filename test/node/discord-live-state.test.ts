/** The live message's rules, without Discord or storage: coalescing, rate limits, hand-off, endings. */
import { describe, expect, it } from "vitest";
import type { RunRow } from "../../core/db/schema.ts";
import {
  applyEvents,
  applyResult,
  EDIT_INTERVAL_MS,
  FIRST_EDIT_DELAY_MS,
  HANDOFF_MARGIN_MS,
  MAX_FAILURES,
  MAX_TOOLS_SHOWN,
  newRecord,
  plan,
  toolDetail,
  type LiveRecord,
  type Target,
} from "../../core/discord/live-state.ts";
import { renderFinal, renderHandoff, renderLive } from "../../core/discord/render.ts";
import type { RestResult } from "../../core/discord/rest.ts";

const T0 = 1_800_000_000_000;
const interaction: Target = { kind: "interaction", appId: "1", token: "tok", channelId: "2", expiresAt: T0 + 15 * 60_000 };
const ok = (id = "m1"): RestResult<{ id: string }> => ({ ok: true, status: 200, data: { id }, limit: { bucket: "b", remaining: 4, resetAfterMs: 1000 } });
const fail = (status: number, code: number | null = null, retryAfterMs: number | null = null): RestResult<{ id: string }> => ({
  ok: false,
  status,
  code,
  message: "x",
  retryAfterMs,
  limit: { bucket: "b", remaining: 0, resetAfterMs: retryAfterMs },
});
const tool = (seq: number, id = `t${seq}`) => ({ seq, at: T0, data: { type: "tool_use" as const, id, name: "Bash", input: `{"command":"echo ${seq}"}` } });

function record(target: Target = interaction): LiveRecord {
  const rec = newRecord(7, target, { userId: "u", prompt: "do it", now: T0 });
  rec.pending = null;
  return rec;
}

const run = (over: Partial<RunRow> = {}): RunRow => ({
  id: 7, taskId: null, channelId: "c", trigger: "discord", status: "succeeded", prompt: "p", scheduledFor: null, lateMs: null, missedCount: 0,
  firedBy: null, attempt: 1, createdAt: T0, startedAt: T0 + 1_000, finishedAt: T0 + 66_000, resultText: "The answer.", error: null,
  sessionId: null, inputTokens: 1234, outputTokens: 567, cacheReadTokens: null, cacheWriteTokens: null, costUsd: 0.0123, exitCode: 0, model: "claude-x", runnerId: "r", requestedBy: null,
  loopId: null, iteration: null, monitorOutput: null, monitorExitCode: null, monitorAt: null,
  discordMessageId: null, deferrals: 0, pendingApproval: null, approvalExpiresAt: null, approvalDecision: null, ...over,
});

describe("events", () => {
  it("applies each seq once, in order, keeping the newest tools and counting the rest", () => {
    const rec = record();
    applyEvents(rec, [tool(2), tool(1), tool(2)], T0);
    expect(rec.tools.map((t) => t.seq)).toEqual([1, 2]);
    applyEvents(rec, [tool(1), tool(2)], T0); // a retried batch
    expect(rec.toolCount).toBe(2);
    applyEvents(rec, Array.from({ length: 20 }, (_, i) => tool(3 + i)), T0);
    expect(rec.toolCount).toBe(22);
    expect(rec.tools).toHaveLength(MAX_TOOLS_SHOWN);
    expect(rec.tools[0]!.seq).toBe(22 - MAX_TOOLS_SHOWN + 1);
    applyEvents(rec, [{ seq: 30, at: T0, data: { type: "tool_result", tool_use_id: "t22", is_error: true, output: "no" } }], T0);
    expect(rec.tools.at(-1)!.result).toBe("error");
    expect(renderLive(rec, T0 + 5_000).content).toContain(`-# … ${22 - MAX_TOOLS_SHOWN} earlier tool calls`);
  });

  it("bumps the version only when something new arrived", () => {
    const rec = record();
    const v = rec.version;
    applyEvents(rec, [tool(1)], T0);
    applyEvents(rec, [tool(1)], T0);
    expect(rec.version).toBe(v + 1);
  });

  it("summarises a tool call by its telling argument", () => {
    expect(toolDetail('{"command":"npm   test\\n --watch=false"}')).toBe("npm test --watch=false");
    expect(toolDetail('{"file_path":"/a/b.ts","limit":20}')).toBe("/a/b.ts");
    expect(toolDetail('{"other":"x"}')).toBe("x");
    expect(toolDetail("plain text")).toBe("plain text");
    expect(toolDetail(`{"command":"${"y".repeat(200)}"}`)).toHaveLength(80);
  });
});

describe("plan", () => {
  it("waits a moment before the first edit of a deferred response", () => {
    expect(plan(record(), T0, true)).toEqual({ wait: T0 + FIRST_EDIT_DELAY_MS });
  });

  it("coalesces: one edit per interval however many versions arrive", () => {
    const rec = record();
    const at = T0 + FIRST_EDIT_DELAY_MS;
    const p = plan(rec, at, true);
    expect(p).toEqual({ step: { kind: "show", part: "live", version: rec.version } });
    applyResult(rec, (p as any).step, ok(), at, true);
    for (let s = 1; s <= 10; s++) applyEvents(rec, [tool(s)], at);
    expect(plan(rec, at + 100, true)).toEqual({ wait: at + EDIT_INTERVAL_MS });
    expect(plan(rec, at + EDIT_INTERVAL_MS, true)).toEqual({ step: { kind: "show", part: "live", version: rec.version } });
  });

  it("does nothing when the newest version is shown and no hand-off is needed", () => {
    const rec = record({ kind: "channel", channelId: "9" });
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, ok(), T0, true);
    expect(plan(rec, T0 + 60_000, true)).toEqual({ idle: true });
  });

  it("sends the final state without the edit interval, but never before a rate limit allows", () => {
    const rec = record();
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, ok(), T0 + 1_000, true);
    rec.final = { chunks: ["answer"], sent: 0 };
    expect(plan(rec, T0 + 1_010, true)).toEqual({ step: { kind: "show", part: "final", version: rec.version } });
    applyResult(rec, { kind: "show", part: "final", version: rec.version }, fail(429, null, 800), T0 + 1_010, true);
    expect(rec.final.sent).toBe(0);
    expect(plan(rec, T0 + 1_500, true)).toEqual({ wait: T0 + 1_810 });
    expect(plan(rec, T0 + 1_810, true)).toMatchObject({ step: { kind: "show", part: "final" } });
  });

  it("respects an exhausted bucket (X-RateLimit-Remaining: 0)", () => {
    const rec = record({ kind: "channel", channelId: "9" });
    const exhausted: RestResult<{ id: string }> = { ok: true, status: 200, data: { id: "m" }, limit: { bucket: "b", remaining: 0, resetAfterMs: 3_000 } };
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, exhausted, T0, true);
    rec.final = { chunks: ["a"], sent: 0 };
    expect(plan(rec, T0 + 100, true)).toEqual({ wait: T0 + 3_000 });
  });

  it("posts the remaining chunks as follow-ups, then is done", () => {
    const rec = record();
    rec.final = { chunks: ["one", "two", "three"], sent: 0 };
    rec.notBefore = T0;
    const steps: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = plan(rec, T0 + 10 * i, true) as any;
      steps.push(p.step.kind === "more" ? `more ${p.step.index}` : p.step.part);
      expect(applyResult(rec, p.step, ok(`m${i}`), T0 + 10 * i, true)).toBe(i === 2);
    }
    expect(steps).toEqual(["final", "more 1", "more 2"]);
  });

  it("creates a scheduled run's thread before posting in it", () => {
    const rec = record({ kind: "thread", parentId: "5", name: "⏰ Task #3: x" });
    expect(plan(rec, T0, true)).toEqual({ step: { kind: "thread", name: "⏰ Task #3: x", parentId: "5" } });
    applyResult(rec, { kind: "thread", name: "n", parentId: "5" }, ok("thread-1"), T0, true);
    expect(rec.channelId).toBe("thread-1");
    expect(plan(rec, T0, true)).toMatchObject({ step: { kind: "show", part: "live" } });
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, ok("msg-1"), T0, true);
    expect(rec.messageId).toBe("msg-1");
  });
});

describe("the 15-minute interaction token", () => {
  it("hands off to a channel message a minute before the token expires", () => {
    const rec = record();
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, ok(), T0 + 1_000, true);
    const handoff = interaction.kind === "interaction" ? interaction.expiresAt - HANDOFF_MARGIN_MS : 0;
    expect(plan(rec, T0 + 2_000, true)).toEqual({ wait: handoff });
    expect(plan(rec, handoff, true)).toEqual({ step: { kind: "handoff" } });
    applyResult(rec, { kind: "handoff" }, ok(), handoff, true);
    expect(rec).toMatchObject({ onOriginal: false, messageId: null, channelId: "2" });
    // The live view is posted again, as a channel message.
    expect(plan(rec, handoff + 10, true)).toMatchObject({ step: { kind: "show", part: "live" } });
  });

  it("a run waiting for approval says so, with since and expiry, and its hand-off does not claim it is working", () => {
    const rec = record();
    const expires = new Date(T0 + 86_400_000).toISOString();
    applyEvents(rec, [{ seq: 1, at: T0 + 3_000, data: { type: "approval_requested", deferral: 1, tool_use_id: "toolu_1", name: "Bash", input: '{"command":"make deploy"}', expires_at: expires } }], T0 + 3_000);
    const live = renderLive(rec, T0 + 60_000).content;
    expect(live).toContain(`✋ Waiting for approval of \`Bash\` since <t:${(T0 + 3_000) / 1000}:R>, expires <t:${(T0 + 86_400_000) / 1000}:R>`);
    expect(live).not.toMatch(/Working|runner/);
    const handoff = renderHandoff(rec, T0 + 14 * 60_000);
    expect(handoff.content).toContain("Still waiting after 14 minutes; the buttons moved to a new message below.");
    expect(handoff.content).not.toContain("Still working");
    expect(handoff.components).toEqual([]);
    // a record stored before the times were kept still reads right
    rec.waiting = { deferral: 1, name: "Bash", input: "{}" };
    expect(renderLive(rec, T0).content).toContain("✋ Waiting for approval of `Bash` · no container is held meanwhile");
    // decided: back to the working view
    applyEvents(rec, [{ seq: 2, at: T0 + 9_000, data: { type: "approval_decided", deferral: 1, tool_use_id: "toolu_1", decision: "approve", by: "admin", reason: null, rule: null } }], T0 + 9_000);
    expect(renderHandoff(rec, T0 + 14 * 60_000).content).toContain("Still working after 14 minutes");
  });

  it("switches at once when Discord says the token is invalid", () => {
    const rec = record();
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, fail(401, 50027), T0 + 1_000, true);
    expect(rec.onOriginal).toBe(false);
    expect(rec.failures).toBe(0);
  });

  it("retries an early 'unknown webhook' (the deferral not registered yet) instead of handing off", () => {
    const rec = record();
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, fail(404, 10015), T0 + 1_000, true);
    expect(rec.onOriginal).toBe(true);
    expect(rec.failures).toBe(1);
    const late = record();
    applyResult(late, { kind: "show", part: "live", version: late.version }, fail(404, 10015), T0 + 14.5 * 60_000, true);
    expect(late.onOriginal).toBe(false);
  });

  it("gives up after expiry when there is no bot token to continue with", () => {
    const rec = record();
    expect(plan(rec, T0 + 15 * 60_000, false)).toMatchObject({ giveUp: expect.stringMatching(/DISCORD_BOT_TOKEN/) });
    expect(applyResult(record(), { kind: "show", part: "live", version: 1 }, fail(401, 50027), T0, false)).toBe(true);
  });
});

describe("failures", () => {
  it("posts a new message when the old one was deleted", () => {
    const rec = record({ kind: "channel", channelId: "9" });
    rec.messageId = "gone";
    applyResult(rec, { kind: "show", part: "live", version: rec.version }, fail(404, 10008), T0, true);
    expect(rec.messageId).toBeNull();
  });

  it("backs off on errors and gives the message up after MAX_FAILURES", () => {
    const rec = record({ kind: "channel", channelId: "9" });
    let done = false;
    for (let i = 1; i <= MAX_FAILURES; i++) {
      done = applyResult(rec, { kind: "show", part: "live", version: rec.version }, fail(500), T0, true);
      expect(rec.notBefore).toBeGreaterThanOrEqual(T0 + 1_000);
    }
    expect(done).toBe(true);
  });
});

describe("final render", () => {
  it("a success: the answer, then duration, tools, tokens, cost and model", () => {
    expect(renderFinal(run(), { toolCount: 3, model: null })).toEqual(["The answer.\n-# ✅ run #7 · 1m 05s · 3 tool calls · 1,234 in / 567 out tokens · $0.0123 · claude-x"]);
  });

  it("a failure, a lost runner and a stop each say why", () => {
    expect(renderFinal(run({ status: "failed", resultText: null, error: "timed out after 300 s" }), { toolCount: 0, model: null })[0]).toMatch(/^❌ \*\*Run failed\*\*: timed out after 300 s\n-# ❌ run #7/);
    expect(renderFinal(run({ status: "lost", resultText: null, error: "runner lost: no heartbeat for 60 s" }), { toolCount: 0, model: null })[0]).toMatch(/^⚠️ \*\*Runner lost\*\*: runner lost/);
    expect(renderFinal(run({ status: "cancelled", resultText: "half", error: null }), { toolCount: 0, model: null })[0]).toMatch(/^⏹️ \*\*Stopped\*\*\n\nhalf\n-# ⏹️/);
  });

  it("shows the day's spend against a daily cap when one is set, and a skipped run says it was over budget", () => {
    const cap = { scope: "channel" as const, period: "daily" as const, capUsd: 5, spentUsd: 1.25 };
    expect(renderFinal(run(), { toolCount: 0, model: null }, { cap })[0]).toBe("The answer.\n-# ✅ run #7 · 1m 05s · 1,234 in / 567 out tokens · $0.0123 · claude-x · today $1.25 of $5.00");
    expect(renderFinal(run(), { toolCount: 0, model: null }, { cap: { ...cap, scope: "global" } })[0]).toMatch(/today \$1\.25 of \$5\.00 \(global cap\)$/);
    expect(renderFinal(run(), { toolCount: 0, model: null }, { cap: null })[0]).not.toMatch(/today/);
    const skipped = run({ status: "skipped_budget", startedAt: null, resultText: null, costUsd: null, inputTokens: null, outputTokens: null, model: null, error: "over budget: the channel's daily budget: $5.10 spent of $5.00 today (UTC)" });
    expect(renderFinal(skipped, { toolCount: 0, model: null }, { cap: { ...cap, spentUsd: 5.1 } })[0]).toMatch(
      /^💸 \*\*Not started: over budget\*\*: over budget: the channel's daily budget: \$5\.10 spent of \$5\.00 today \(UTC\)\n-# 💸 run #7 · .* · today \$5\.10 of \$5\.00$/,
    );
  });

  it("uses the model from the init event when the completion has none", () => {
    expect(renderFinal(run({ model: null, costUsd: null, inputTokens: null, outputTokens: null }), { toolCount: 0, model: "from-init" })[0]).toBe("The answer.\n-# ✅ run #7 · 1m 05s · from-init");
  });

  it("caps a huge answer and says where the rest is", () => {
    const chunks = renderFinal(run({ resultText: "word ".repeat(30_000) }), { toolCount: 0, model: null });
    expect(chunks).toHaveLength(11);
    expect(chunks[10]).toMatch(/GET \/api\/runs\/7/);
  });
});
