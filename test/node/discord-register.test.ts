/** `loop discord register` against the fake Discord API: bulk overwrite and what changed. */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { COMMANDS } from "../../protocol/discord-commands.ts";
import { run } from "../../runner/commands/discord.ts";
import { UserError } from "../../runner/user-error.ts";
import { startFakeDiscord, type FakeDiscord } from "../fakes/discord.ts";

const APP = "800000000000000001";
const GUILD = "800000000000000002";
let fake: FakeDiscord;

beforeAll(async () => {
  fake = await startFakeDiscord({ botToken: "bot-secret" });
});
afterAll(() => fake.close());
afterEach(() => {
  fake.reset();
  vi.unstubAllEnvs();
});

function env(overrides: Record<string, string> = {}) {
  vi.stubEnv("DISCORD_APP_ID", APP);
  vi.stubEnv("DISCORD_BOT_TOKEN", "bot-secret");
  vi.stubEnv("DISCORD_API_BASE", fake.url);
  for (const [k, v] of Object.entries(overrides)) vi.stubEnv(k, v);
}

/** Runs the command and returns what it printed. */
async function register(argv: string[]): Promise<string> {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...args) => void lines.push(args.join(" ")));
  try {
    expect(await run(argv)).toBe(0);
  } finally {
    spy.mockRestore();
  }
  return lines.join("\n");
}

describe("loop discord register", () => {
  it("publishes /loop to a guild with one bulk overwrite and says it was added", async () => {
    env();
    const out = await register(["register", "--guild", GUILD]);
    expect(out).toContain(`Registered 1 command in guild ${GUILD} for application ${APP}:`);
    expect(out).toContain("+ /loop (added)");
    const calls = fake.calls.map((c) => `${c.method} ${c.path}`);
    expect(calls).toEqual([`GET /applications/${APP}/guilds/${GUILD}/commands`, `PUT /applications/${APP}/guilds/${GUILD}/commands`]);
    expect(fake.calls.every((c) => c.auth === "bot")).toBe(true);
    expect(fake.calls[1]!.body).toEqual(JSON.parse(JSON.stringify(COMMANDS)));
  });

  it("says unchanged when the registered copy matches (Discord's extra fields and defaults ignored)", async () => {
    env();
    await register(["register"]);
    const out = await register(["register"]);
    expect(out).toContain("Registered 1 command globally");
    expect(out).toContain("= /loop (unchanged)");
  });

  it("reports changed and removed commands", async () => {
    env();
    // What an older Loop (or someone else) registered: a different /loop and a stray command.
    await fetch(`${fake.url}/applications/${APP}/commands`, {
      method: "PUT",
      headers: { authorization: "Bot bot-secret", "content-type": "application/json" },
      body: JSON.stringify([{ ...COMMANDS[0], description: "old description" }, { name: "legacy", description: "gone soon", type: 1 }]),
    });
    fake.reset();
    const out = await register(["register"]);
    expect(out).toContain("~ /loop (changed)");
    expect(out).toContain("- /legacy (removed)");
    expect(out).toContain("up to an hour");
    const put = fake.calls.find((c) => c.method === "PUT")!;
    expect(put.body.map((c: { name: string }) => c.name)).toEqual(["loop"]);
  });

  it("--dry-run shows the changes without writing", async () => {
    env();
    const out = await register(["register", "--guild", "800000000000000003", "--dry-run"]);
    expect(out).toContain("Would register 1 command");
    expect(out).toContain("+ /loop (added)");
    expect(fake.calls.map((c) => c.method)).toEqual(["GET"]);
  });

  it("refuses missing configuration and bad flags as user errors", async () => {
    vi.stubEnv("DISCORD_APP_ID", "");
    await expect(run(["register"])).rejects.toThrow(/DISCORD_APP_ID/);
    env({ DISCORD_BOT_TOKEN: "" });
    await expect(run(["register"])).rejects.toThrow(/DISCORD_BOT_TOKEN/);
    env();
    await expect(run(["register", "--guild", "abc"])).rejects.toBeInstanceOf(UserError);
    await expect(run(["register", "--bogus"])).rejects.toThrow(/usage: loop discord register/);
    await expect(run(["publish"])).rejects.toThrow(/unknown subcommand/);
    expect(fake.calls).toEqual([]);
  });

  it("turns Discord's refusal into a user error naming the status", async () => {
    env({ DISCORD_BOT_TOKEN: "wrong-token" });
    await expect(run(["register"])).rejects.toThrow(/HTTP 401/);
  });
});
