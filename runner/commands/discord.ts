/**
 * `loop discord register [--guild <id>] [--dry-run]`: publishes the /loop command
 * (protocol/discord-commands.ts, the definition the Worker answers) to the Discord
 * application, replacing all of its commands in one bulk overwrite, and prints what
 * changed against what was registered before. A guild registration shows up at once;
 * a global one can take up to an hour to reach every client.
 *
 * Reads DISCORD_APP_ID and DISCORD_BOT_TOKEN (required) and DISCORD_API_BASE (default
 * https://discord.com/api/v10) from the environment.
 */
import { COMMANDS } from "../../protocol/discord-commands.ts";
import { UserError } from "../user-error.ts";
import { parseFlags } from "../flags.ts";

const USAGE = "usage: loop discord register [--guild <id>] [--dry-run]";
const SNOWFLAKE = /^\d{17,20}$/;

export interface Change {
  name: string;
  change: "added" | "changed" | "removed" | "unchanged";
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h") {
    console.log(USAGE);
    return 0;
  }
  if (sub !== "register") throw new UserError(sub ? `unknown subcommand "${sub}"\n${USAGE}` : USAGE);
  const values = parseFlags(rest, { guild: { type: "string" }, "dry-run": { type: "boolean" } }, USAGE);
  if (!values) return 0;
  const appId = process.env.DISCORD_APP_ID;
  const token = process.env.DISCORD_BOT_TOKEN;
  const base = (process.env.DISCORD_API_BASE || "https://discord.com/api/v10").replace(/\/+$/, "");
  if (!appId || !SNOWFLAKE.test(appId)) throw new UserError("set DISCORD_APP_ID to the application's id (developer portal › General Information).");
  if (!token) throw new UserError("set DISCORD_BOT_TOKEN to the bot's token (developer portal › Bot).");
  if (values.guild !== undefined && !SNOWFLAKE.test(values.guild)) throw new UserError(`--guild must be a server id, not "${values.guild}".`);

  const url = values.guild ? `${base}/applications/${appId}/guilds/${values.guild}/commands` : `${base}/applications/${appId}/commands`;
  const where = values.guild ? `in guild ${values.guild}` : "globally";
  const before = (await discord("GET", url, token)) as Registered[];
  const changes = diffCommands(before, COMMANDS);
  if (!values["dry-run"]) await discord("PUT", url, token, COMMANDS);

  console.log(`${values["dry-run"] ? "Would register" : "Registered"} ${COMMANDS.length} command${COMMANDS.length === 1 ? "" : "s"} ${where} for application ${appId}:`);
  const marks = { added: "+", changed: "~", removed: "-", unchanged: "=" } as const;
  for (const c of changes) console.log(`  ${marks[c.change]} /${c.name} (${c.change})`);
  if (!values.guild && !values["dry-run"] && changes.some((c) => c.change !== "unchanged")) {
    console.log("Global commands can take up to an hour to reach every Discord client; --guild <id> is immediate.");
  }
  return 0;
}

type Registered = Record<string, unknown> & { name: string };

async function discord(method: "GET" | "PUT", url: string, token: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bot ${token}`, "content-type": "application/json", "user-agent": "DiscordBot (https://github.com/loop, 0.1.0)" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new UserError(`could not reach Discord at ${new URL(url).origin}: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new UserError(`Discord refused ${method} ${new URL(url).pathname} (HTTP ${res.status}): ${text.slice(0, 500)}`);
  return text ? JSON.parse(text) : null;
}

/** Compares what is registered with what will be, by command name. */
export function diffCommands(before: Registered[], after: readonly object[]): Change[] {
  const old = new Map(before.map((c) => [c.name, c]));
  const changes: Change[] = [];
  for (const cmd of after as Registered[]) {
    const prev = old.get(cmd.name);
    old.delete(cmd.name);
    changes.push({ name: cmd.name, change: !prev ? "added" : sameAs(cmd, prev) ? "unchanged" : "changed" });
  }
  for (const name of old.keys()) changes.push({ name, change: "removed" });
  return changes;
}

/**
 * Whether Discord's copy matches ours in every field we set. Discord adds fields (id,
 * version, …) and leaves out defaults (required: false, empty lists), so a field we set
 * to its default matches a field Discord omitted.
 */
function sameAs(ours: unknown, theirs: unknown): boolean {
  if (isDefault(ours) && isDefault(theirs)) return true;
  if (Array.isArray(ours)) {
    return Array.isArray(theirs) && ours.length === theirs.length && ours.every((v, i) => sameAs(v, theirs[i]));
  }
  if (ours && typeof ours === "object") {
    if (!theirs || typeof theirs !== "object") return false;
    return Object.entries(ours).every(([k, v]) => sameAs(v, (theirs as Record<string, unknown>)[k]));
  }
  // Discord returns permission bitfields as strings.
  return ours === theirs || (typeof theirs === "string" && String(ours) === theirs);
}

const isDefault = (v: unknown) => v === undefined || v === null || v === false || (Array.isArray(v) && v.length === 0);
