/**
 * The metered bench build's wrangler configuration (Node side, never bundled): the product's
 * wrangler.toml with bench/meter/entry.ts as `main`, and the meter lines that build prints.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { METER_PREFIX, type MeterEvent } from "./meter-event.ts";

const ROOT = resolve(import.meta.dirname, "..");

/** Writes the configuration (gitignored) and returns its path, for startWorker/setupEnv's `config`. */
export function meteredConfig(): string {
  const path = join(ROOT, "bench/meter/.wrangler.generated.toml");
  writeFileSync(
    path,
    readFileSync(join(ROOT, "wrangler.toml"), "utf8")
      .replace(/^main = .*$/m, `main = "${join(ROOT, "bench/meter/entry.ts")}"`)
      .replace(/^migrations_dir = .*$/m, `migrations_dir = "${join(ROOT, "migrations")}"`)
      // Relative paths in a wrangler configuration are taken from the file's own directory.
      .replace(/^directory = "(.*)"$/m, (_m, dir: string) => `directory = "${join(ROOT, dir)}"`)
      .replace(/^watch_dir = "(.*)"$/m, (_m, dir: string) => `watch_dir = "${join(ROOT, dir)}"`),
  );
  return path;
}

/** Every meter line in a metered Worker's output so far, in order. */
export function meterEvents(output: string): MeterEvent[] {
  return output
    .split("\n")
    .filter((l) => l.includes(METER_PREFIX))
    .map((l) => JSON.parse(l.slice(l.indexOf(METER_PREFIX) + METER_PREFIX.length)) as MeterEvent);
}
