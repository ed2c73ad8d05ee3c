/**
 * JSON with comments and trailing commas (the original read HJSON-ish config), with
 * errors that name the file, line and column instead of "Unexpected token".
 */
import { parse, printParseErrorCode, type ParseError } from "jsonc-parser";
import { UserError } from "./user-error.ts";

export function parseJsonc(text: string, file: string): unknown {
  const errors: ParseError[] = [];
  const value = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
  const first = errors[0];
  if (first) {
    const before = text.slice(0, first.offset);
    const line = before.split("\n").length;
    const column = first.offset - before.lastIndexOf("\n");
    throw new UserError(`${file}:${line}:${column}: not valid JSON (${printParseErrorCode(first.error)})`);
  }
  return value;
}
