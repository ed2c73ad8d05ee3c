/** The relay's own rules (pure): what it forwards, what it drops, what it keeps as context. */
import type { GatewayMessageCreateDispatchData } from "discord-api-types/v10";
import { describe, expect, it } from "vitest";
import { MAX_CONTEXT_MESSAGES, MAX_RELAY_CONTENT, RelayMessage } from "../../protocol/relay.ts";
import { classify, MAX_CONTEXT_CHANNELS, RelayState } from "../../runner/relay/classify.ts";

const BOT = "900000000000000009";
let n = 0;
function msg(over: Partial<GatewayMessageCreateDispatchData> & { authorId?: string; bot?: boolean } = {}): GatewayMessageCreateDispatchData {
  const { authorId, bot, ...rest } = over;
  return {
    id: String(1_100_000_000_000_000_000n + BigInt(++n)),
    type: 0,
    channel_id: "200000000000000001",
    guild_id: "300000000000000001",
    author: { id: authorId ?? "100000000000000001", username: "alice", global_name: "Alice", discriminator: "0", avatar: null, ...(bot ? { bot: true } : {}) },
    member: { nick: "Ali", roles: ["400000000000000001"] } as never,
    content: "hello",
    mentions: [],
    mention_roles: [],
    mention_everyone: false,
    attachments: [],
    embeds: [],
    pinned: false,
    tts: false,
    timestamp: "2026-11-29T12:00:00.000Z",
    edited_timestamp: null,
    ...rest,
  } as GatewayMessageCreateDispatchData;
}
const ready = () => {
  const s = new RelayState();
  s.botUserId = BOT;
  return s;
};
const botMention = { id: BOT, username: "loop", discriminator: "0", avatar: null, global_name: null } as never;

describe("classify", () => {
  it("forwards a mention, a reply to the bot, !loop, a DM and a message in the bot's thread, with the reasons", () => {
    const s = ready();
    s.rememberThread("200000000000000009", { parentId: "200000000000000001", ownerId: BOT });
    expect(classify(msg({ mentions: [botMention], content: `<@${BOT}> hi` }), s)?.reasons).toEqual(["mention"]);
    expect(classify(msg({ type: 19, referenced_message: msg({ authorId: BOT }) as never, message_reference: { message_id: "1", channel_id: "200000000000000001" } }), s)?.reasons).toEqual(["reply"]);
    expect(classify(msg({ content: "!loop deploy" }), s)?.reasons).toEqual(["command"]);
    expect(classify(msg({ guild_id: undefined, member: undefined }), s)?.reasons).toEqual(["dm"]);
    const inThread = classify(msg({ channel_id: "200000000000000009" }), s)!;
    expect(inThread).toMatchObject({ reasons: ["thread"], parent_id: "200000000000000001", thread_owned_by_bot: true });
    // What it forwards is what the Worker accepts.
    expect(() => RelayMessage.parse(inThread)).not.toThrow();
  });

  it("drops bots, webhooks, Loop itself, system messages, and everything before READY", () => {
    const s = ready();
    const m = { mentions: [botMention], content: "<@x> hi" };
    expect(classify(msg({ ...m, bot: true }), s)).toBeNull();
    expect(classify(msg({ ...m, webhook_id: "5" }), s)).toBeNull();
    expect(classify(msg({ ...m, authorId: BOT }), s)).toBeNull();
    expect(classify(msg({ ...m, type: 7 }), s)).toBeNull(); // a member joined
    expect(classify(msg({ content: "!looping" }), s)).toBeNull();
    expect(classify(msg({ channel_id: "200000000000000008" }), s)).toBeNull(); // a thread someone else made: unknown
    expect(classify(msg(m), new RelayState())).toBeNull();
  });

  it("uses the member's nickname, cuts long content with a flag, and carries the channel's recent chatter as context", () => {
    const s = ready();
    for (let i = 0; i < MAX_CONTEXT_MESSAGES + 5; i++) classify(msg({ content: `chat ${i}` }), s);
    classify(msg({ content: "elsewhere", channel_id: "200000000000000002" }), s);
    const m = classify(msg({ content: `!loop ${"x".repeat(MAX_RELAY_CONTENT)}` }), s)!;
    expect(m.author).toMatchObject({ display_name: "Ali", username: "alice" });
    expect(m.roles).toEqual(["400000000000000001"]);
    expect(m.truncated).toBe(true);
    expect(m.content).toHaveLength(MAX_RELAY_CONTENT);
    expect(m.context).toHaveLength(MAX_CONTEXT_MESSAGES);
    expect(m.context![0]!.content).toBe("chat 5");
    expect(m.context!.at(-1)!.content).toBe(`chat ${MAX_CONTEXT_MESSAGES + 4}`);
  });

  it("keeps context for a bounded number of channels, forgetting the least recently active", () => {
    const s = ready();
    for (let i = 0; i <= MAX_CONTEXT_CHANNELS; i++) classify(msg({ channel_id: String(500_000_000_000_000_000n + BigInt(i)) }), s);
    expect(s.context("500000000000000000")).toEqual([]);
    expect(s.context(String(500_000_000_000_000_000n + BigInt(MAX_CONTEXT_CHANNELS)))).toHaveLength(1);
  });
});
