/**
 * A command's flags, parsed strictly the one way every `loop` command does: an unknown or
 * malformed flag is a UserError that shows the usage; --help/-h prints the usage and
 * answers null. `out` is where help goes: stderr for commands whose stdout is a protocol.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UserError } from "./user-error.ts";

const HELP = { help: { type: "boolean", short: "h" } } as const;

export function parseFlags<const O extends ParseArgsOptionsConfig>(
  argv: string[],
  options: O,
  usage: string,
  out: (text: string) => void = (text) => console.log(text),
) {
  type Config = { args: string[]; options: O & typeof HELP; strict: true; allowPositionals: false };
  let parsed;
  try {
    parsed = parseArgs<Config>({ args: argv, options: { ...options, ...HELP }, strict: true, allowPositionals: false });
  } catch (err) {
    throw new UserError(`${err instanceof Error ? err.message : String(err)}\n\n${usage}`);
  }
  // Inside the generic the values' keys are unknown to the checker; `help` is always there.
  if ((parsed.values as { help?: boolean }).help) {
    out(usage);
    return null;
  }
  return parsed.values;
}
