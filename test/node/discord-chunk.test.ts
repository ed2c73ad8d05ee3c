/** Splitting answers into Discord messages: limits, words and code fences. */
import { describe, expect, it } from "vitest";
import { MESSAGE_CONTENT_LIMIT as MESSAGE_LIMIT } from "../../protocol/discord-constants.ts";
import { chunkMessage, withFooter } from "../../core/discord/chunk.ts";

const isFence = (line: string) => /^ {0,3}(`{3,}|~{3,})/.test(line);
/** The words of a text, fence lines left out (chunking may add fence lines, nothing else). */
const words = (text: string) =>
  text
    .split("\n")
    .filter((l) => !isFence(l))
    .join(" ")
    .split(/\s+/)
    .filter(Boolean);
/** Each chunk's fences must pair up, so every message renders on its own. */
const fencesBalanced = (chunk: string) => chunk.split("\n").filter(isFence).length % 2 === 0;

function expectValid(text: string, chunks: string[], limit = MESSAGE_LIMIT) {
  for (const c of chunks) {
    expect(c.length).toBeLessThanOrEqual(limit);
    expect(c.trim()).not.toBe("");
    expect(fencesBalanced(c), c).toBe(true);
  }
  expect(words(chunks.join("\n"))).toEqual(words(text));
}

describe("chunkMessage", () => {
  it("leaves a message that fits alone", () => {
    expect(chunkMessage("Hello **world**\n\n- a\n- b")).toEqual(["Hello **world**\n\n- a\n- b"]);
  });

  it("returns nothing for empty or blank text", () => {
    expect(chunkMessage("")).toEqual([]);
    expect(chunkMessage(" \n \n")).toEqual([]);
  });

  it("splits prose between lines, never inside a word", () => {
    const para = Array.from({ length: 60 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog again.`).join("\n");
    const chunks = chunkMessage(para, 500);
    expect(chunks.length).toBeGreaterThan(5);
    expectValid(para, chunks, 500);
    // Boundaries fall between lines: each chunk is whole lines of the original.
    for (const c of chunks) for (const line of c.split("\n")) expect(para.split("\n")).toContain(line);
  });

  it("splits one very long line at spaces", () => {
    const line = Array.from({ length: 1200 }, (_, i) => `word${i}`).join(" ");
    const chunks = chunkMessage(line);
    expect(chunks.length).toBeGreaterThan(3);
    expectValid(line, chunks);
    for (const c of chunks) expect(c).toMatch(/^word\d+( word\d+)*$/);
  });

  it("closes a code block at the cut and reopens it, language kept, in the next message", () => {
    const code = Array.from({ length: 120 }, (_, i) => `  const value${i} = compute(${i}); // step ${i}`).join("\n");
    const text = `Here is the fix:\n\n\`\`\`ts\n${code}\n\`\`\`\n\nThat is all.`;
    const chunks = chunkMessage(text);
    expect(chunks.length).toBeGreaterThan(1);
    expectValid(text, chunks);
    expect(chunks[0]!.endsWith("\n```")).toBe(true);
    expect(chunks[1]!.startsWith("```ts\n")).toBe(true);
    expect(chunks[chunks.length - 1]!.endsWith("That is all.")).toBe(true);
  });

  it("treats ~~~ and longer fences as CommonMark does", () => {
    const inner = "```\nnot a fence here\n```";
    const text = `~~~~md\n${inner}\n${"x ".repeat(400)}\n~~~~\nafter`;
    const chunks = chunkMessage(text, 300);
    expectValid(text, chunks, 300);
    expect(chunks[1]!.startsWith("~~~~md\n")).toBe(true);
  });

  it("closes a fence the answer left open", () => {
    const chunks = chunkMessage("```py\nprint('hi')");
    expect(chunks).toEqual(["```py\nprint('hi')\n```"]);
  });

  it("cuts a word longer than a message, and never a surrogate pair", () => {
    const word = "🙂".repeat(1500); // 3,000 UTF-16 code units
    const chunks = chunkMessage(`start ${word} end`);
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(c).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
    expect(chunks.join("").replace(/\s/g, "")).toBe(`start${word}end`);
  });

  it("keeps every invariant on random markdown", () => {
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 200; round++) {
      const lines: string[] = [];
      let open = false;
      const n = 5 + Math.floor(rand() * 200);
      for (let i = 0; i < n; i++) {
        const r = rand();
        if (r < 0.08) {
          lines.push(open ? "```" : `\`\`\`${rand() < 0.5 ? "js" : ""}`);
          open = !open;
        } else if (r < 0.12) lines.push("");
        else lines.push(Array.from({ length: 1 + Math.floor(rand() * (rand() < 0.05 ? 600 : 20)) }, () => "abcdefghij".slice(0, 1 + Math.floor(rand() * 10))).join(" "));
      }
      const text = lines.join("\n");
      const limit = 200 + Math.floor(rand() * 1800);
      expectValid(text, chunkMessage(text, limit), limit);
    }
  });
});

describe("withFooter", () => {
  it("appends the footer to the last message when it fits", () => {
    expect(withFooter(["a", "b"], "-# 12s")).toEqual(["a", "b\n-# 12s"]);
  });

  it("sends the footer alone when the last message is full", () => {
    const full = "x".repeat(MESSAGE_LIMIT - 3);
    expect(withFooter([full], "-# 12s")).toEqual([full, "-# 12s"]);
  });

  it("is the whole message when there is no text", () => {
    expect(withFooter([], "-# 12s")).toEqual(["-# 12s"]);
  });
});
