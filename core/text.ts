/** Plain-text helpers shared by every surface (Discord, MCP, REST read models). */

/** `text` in at most `max` characters: cut, with an ellipsis that counts toward `max`. */
export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `text` on one line (whitespace runs collapsed), cut to `max` characters. */
export function cutLine(text: string, max: number): string {
  return cut(text.replace(/\s+/g, " ").trim(), max);
}
