/**
 * Splitting a long answer into Discord messages (2,000 characters each) without breaking
 * words or code blocks: a chunk that ends inside a fenced block closes it, and the next
 * chunk reopens it with the same fence line (language kept), so every message renders on
 * its own. Pure: no Discord, no Worker.
 *
 * Lengths are counted in UTF-16 code units (String.length), which is never less than the
 * code points Discord counts, so a chunk is never over the limit.
 */

import { MESSAGE_CONTENT_LIMIT } from "../../protocol/discord-constants.ts";

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;

interface Fence {
  /** The opening line, reused to reopen the block in the next chunk. */
  line: string;
  marker: string;
}

/** The fence state after `line`, given the state before it (CommonMark's rules, simplified). */
function nextFence(open: Fence | null, line: string): Fence | null {
  const m = FENCE.exec(line);
  if (!m) return open;
  const marker = m[1]!;
  if (!open) return { line, marker };
  // A closing fence: the same character, at least as long, nothing after it.
  const closes = marker[0] === open.marker[0] && marker.length >= open.marker.length && m[2]!.trim() === "";
  return closes ? null : open;
}

export function chunkMessage(text: string, limit = MESSAGE_CONTENT_LIMIT): string[] {
  const chunks: string[] = [];
  let fence: Fence | null = null;
  let buf = "";
  /** Nothing has been added since the chunk began (or since the fence was reopened). */
  let fresh = true;
  const close = (f: Fence | null) => (f ? `\n${f.marker}` : "");

  const push = () => {
    const body = buf.replace(/^\n+/, "").replace(/\s+$/, "");
    if (!fresh && body.trim() && body !== fence?.line) chunks.push(body + close(fence));
    buf = fence ? fence.line : "";
    fresh = true;
  };
  /** Adds `atom` if it fits with room left to close the fence open after it. */
  const add = (atom: string, newLine: boolean, after: Fence | null): boolean => {
    const sep = !buf ? "" : newLine || fresh ? "\n" : "";
    const joined = buf + sep + atom;
    if (joined.length + close(after).length > limit) return false;
    buf = joined;
    fresh = false;
    return true;
  };

  for (const line of text.split("\n")) {
    const after = nextFence(fence, line);
    if (!add(line, true, after)) {
      push();
      if (!add(line, true, after)) {
        // Longer than a whole message: pack it word by word (words keep their trailing
        // space, so nothing is lost), cutting inside a word only when it alone is too long.
        const room = limit - (fence ? fence.line.length + 1 : 0) - close(fence).length;
        let newLine = true;
        for (const word of line.split(/(?<= )/)) {
          for (const atom of word.length <= room ? [word] : hardSplit(word, room)) {
            if (!add(atom, newLine, fence)) {
              push();
              add(atom, newLine, fence);
            }
            newLine = false;
          }
        }
      }
    }
    fence = after;
  }
  push();
  return chunks;
}

/** Cuts one over-long word into pieces of at most `room` characters. */
function hardSplit(word: string, room: number): string[] {
  const pieces: string[] = [];
  let piece = "";
  for (const ch of word) {
    // for..of walks code points: a surrogate pair is never cut in two.
    if (piece.length + ch.length > room) {
      pieces.push(piece);
      piece = "";
    }
    piece += ch;
  }
  if (piece) pieces.push(piece);
  return pieces;
}

/** Appends a footer to the last chunk, or as a message of its own when it does not fit. */
export function withFooter(chunks: string[], footer: string, limit = MESSAGE_CONTENT_LIMIT): string[] {
  if (!chunks.length) return [footer];
  const last = chunks[chunks.length - 1]!;
  if (last.length + 1 + footer.length <= limit) return [...chunks.slice(0, -1), `${last}\n${footer}`];
  return [...chunks, footer];
}
