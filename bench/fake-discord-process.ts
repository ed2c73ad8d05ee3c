/**
 * The fake Discord API (test/fakes/discord.ts) in a process of its own, for benchmarks whose
 * client measures latency: served from the client's own process, the live messages' edits
 * would be handled on the client's event loop and delay its timings. Run as a script it prints
 * one JSON line, `{ url, origin }`, then serves until it is sent SIGTERM (argument: the bot
 * token to accept); startFakeDiscordProcess starts it that way.
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { startFakeDiscord } from "../test/fakes/discord.ts";

export interface FakeDiscordProcess {
  /** The API base to give Loop. */
  url: string;
  /** How many calls Loop has made to it so far. */
  callCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startFakeDiscordProcess(botToken: string): Promise<FakeDiscordProcess> {
  const child = spawn(process.execPath, [import.meta.filename, botToken], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("the fake Discord process exited before it was ready");
  const { url, origin } = JSON.parse(first.value) as { url: string; origin: string };
  return {
    url,
    async callCount() {
      const res = await fetch(`${origin}/__calls?match=`);
      return ((await res.json()) as { calls: unknown[] }).calls.length;
    },
    async close() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      await once(child, "exit");
    },
  };
}

if (import.meta.filename === process.argv[1]) {
  const fake = await startFakeDiscord({ botToken: process.argv[2] });
  console.log(JSON.stringify({ url: fake.url, origin: fake.origin }));
  process.once("SIGTERM", () => void fake.close().then(() => process.exit(0)));
}
