/** The Worker's rules for relayed messages and the prompt they become (pure; no Discord, no D1). */
import { describe, expect, it } from "vitest";
import { RelayMessage, type RelayMessageInput } from "../../protocol/relay.ts";
import { decide, DM_NEEDS_DIR, DM_REFUSED, stripAddress, type Facts } from "../../worker/relay/accept.ts";
import { boundContext, buildPrompt, CONTEXT_BUDGET, snowflakeMs } from "../../worker/relay/prompt.ts";

const BOT = "900000000000000009";
const USER = "100000000000000001";
const facts = (over: Partial<Facts> = {}): Facts => ({ botUserId: BOT, loopThread: false, ownerSomewhere: false, dmAllowed: false, dmHasDir: false, ...over });
const msg = (over: Partial<RelayMessageInput> = {}) =>
  RelayMessage.parse({
    id: "1100000000000000001",
    channel_id: "200000000000000001",
    guild_id: "300000000000000001",
    author: { id: USER, username: "alice", display_name: "Alice" },
    content: `<@${BOT}> hello`,
    reasons: ["mention"],
    at: 0,
    ...over,
  });
const snowflakeAt = (ms: number) => String((BigInt(ms) - 1_420_070_400_000n) << 22n);

describe("decide", () => {
  it("runs a mention, a reply and !loop in a server channel, with the address stripped", () => {
    expect(decide(msg(), facts())).toEqual({ act: "run", prompt: "hello" });
    expect(decide(msg({ content: "what about it?", reasons: ["reply"] }), facts())).toEqual({ act: "run", prompt: "what about it?" });
    expect(decide(msg({ content: "!loop run the tests", reasons: ["command"] }), facts())).toEqual({ act: "run", prompt: "run the tests" });
  });

  it("ignores bots, Loop itself, empty asks, and thread chatter outside a run's thread", () => {
    expect(decide(msg({ author: { id: "5", username: "ci", display_name: "CI", bot: true } }), facts()).act).toBe("ignore");
    expect(decide(msg({ author: { id: BOT, username: "loop", display_name: "Loop" } }), facts()).act).toBe("ignore");
    expect(decide(msg({ content: `<@${BOT}>` }), facts()).act).toBe("ignore");
    expect(decide(msg({ content: "lunch?", reasons: ["thread"] }), facts()).act).toBe("ignore");
    expect(decide(msg({ content: "why did it fail?", reasons: ["thread"] }), facts({ loopThread: true }))).toEqual({ act: "run", prompt: "why did it fail?" });
  });

  it("DMs: strangers are refused, owners and allowed users need a directory", () => {
    const dm = msg({ guild_id: null, content: "hi", reasons: ["dm"] });
    expect(decide(dm, facts())).toEqual({ act: "refuse", text: DM_REFUSED });
    expect(decide(dm, facts({ ownerSomewhere: true }))).toEqual({ act: "answer", text: DM_NEEDS_DIR });
    expect(decide(dm, facts({ dmAllowed: true, dmHasDir: true }))).toEqual({ act: "run", prompt: "hi" });
  });

  it("strips <@id> and <@!id> anywhere, and !loop only as a word", () => {
    expect(stripAddress(`hey <@!${BOT}> look`, BOT)).toBe("hey look");
    expect(stripAddress("!looping around", BOT)).toBe("!looping around");
    expect(stripAddress("!LOOP deploy", BOT)).toBe("deploy");
  });
});

describe("prompt", () => {
  it("keeps only context written after the last run, newest first within the budget", () => {
    const t = 1_800_000_000_000;
    const ctx = [
      { id: snowflakeAt(t - 10_000), author: "Bob", content: "before the run" },
      { id: snowflakeAt(t + 1_000), author: "Bob", content: "a".repeat(CONTEXT_BUDGET - 20) },
      { id: snowflakeAt(t + 2_000), author: "Carol", content: "latest" },
    ];
    expect(snowflakeMs(ctx[2]!.id)).toBe(t + 2_000);
    expect(boundContext(ctx, t).map((m) => m.content)).toEqual([ctx[1]!.content, "latest"]);
    const tight = [...ctx, { id: snowflakeAt(t + 3_000), author: "Dan", content: "b".repeat(30) }];
    // Over the budget: the oldest message goes first.
    expect(boundContext(tight, t).map((m) => m.author)).toEqual(["Carol", "Dan"]);
    expect(boundContext(ctx, null)).toHaveLength(2);
  });

  it("names the author, marks a cut message and lists attachments", () => {
    const p = buildPrompt({ author: "Alice", text: "look", truncated: true, attachments: ["https://cdn/x.png"], context: [{ id: "1", author: "Bob", content: "hm" }] });
    expect(p).toBe(
      "Messages in this channel since your last run here, oldest first:\nBob: hm\n\nAlice says:\nlook\n(The message was longer than 4,000 characters and was cut there.)\nAttachments:\nhttps://cdn/x.png",
    );
  });
});
