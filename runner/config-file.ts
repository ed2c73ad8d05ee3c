/**
 * ~/.loop/config.json: its one schema, its default path and its one reader, shared by the
 * runner (runner/config.ts turns it into a RunnerConfig) and by the CLI's API client (which
 * reads worker_url and admin_token from it). A project's {workdir}/.loop/config.json is read
 * by the same reader.
 *
 * The format is HJSON, as in the original Loop: plain JSON and JSON with comments and
 * trailing commas are HJSON too, so every file written for either reads the same.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { resolve } from "node:path";
import Hjson from "hjson";
import { z } from "zod";
import { MOUNT_FORMAT, parseMount } from "./mounts.ts";
import { ORIGINAL_KEY_NOTES } from "./original-keys.ts";
import { UserError } from "./user-error.ts";

export const DEFAULT_IMAGE = "loop-agent:latest";
/** What config.example.jsonc holds until the user pastes a real token. */
export const ONBOARD_PLACEHOLDER = "PASTE-THE-RUNNER-TOKEN-HERE";

export const defaultConfigPath = (env: Record<string, string | undefined> = process.env): string =>
  resolve(env.HOME || homedir(), ".loop", "config.json");

export const Mount = z.string().refine((s) => parseMount(s) !== null, { message: `a mount must look like ${MOUNT_FORMAT}` });

/** An MCP server as Claude Code's --mcp-config spells it: stdio (command) or http/sse (url). */
export const McpServer = z
  .looseObject({
    type: z.enum(["stdio", "http", "sse"]).optional(),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: z.record(z.string(), z.string()).optional(),
    url: z.url().optional(),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .refine((s) => Boolean(s.command) !== Boolean(s.url), { message: "an MCP server needs either a command (stdio) or a url (http)" });
export type McpServer = z.infer<typeof McpServer>;

export const McpSection = z.strictObject({ servers: z.record(z.string().regex(/^[\w-]+$/, "server names use letters, digits, _ and -"), McpServer).default({}) });

/** A credential goes to the container through stdin as one KEY=VALUE line: no newlines. */
const Secret = z
  .string()
  .min(1)
  .refine((s) => !/[\r\n]/.test(s), { message: "must be a single line" });

export const WorkerUrl = z.url({ protocol: /^https?$/, error: "must be the Worker's http(s) URL, e.g. https://loop.example.workers.dev" });
export const RunnerToken = Secret.refine((s) => s !== ONBOARD_PLACEHOLDER, { message: "still the placeholder from `loop onboard`: paste the token POST /api/runners returned" });

/**
 * Every key of ~/.loop/config.json. worker_url and runner_token are optional here because
 * the CLI can take them from flags or the environment; the runner requires both
 * (runner/config.ts). admin_token is for the CLI's REST calls; the runner ignores it.
 */
export const ConfigFile = z.object({
  worker_url: WorkerUrl.optional(),
  runner_token: RunnerToken.optional(),
  admin_token: Secret.optional(),
  labels: z.array(z.string().min(1)).default([]),
  container_image: z.string().min(1).default(DEFAULT_IMAGE),
  container_timeout_sec: z.int().min(1).max(86_400).default(1_800),
  /** The watchdog (issue 14): a run whose CLI prints nothing for this long is stopped and failed. */
  stall_timeout_sec: z.int().min(5).max(86_400).default(300),
  /** Ceilings for the per-run limits a job may ask for; absent: no ceiling. */
  max_turns: z.int().min(1).max(10_000).optional(),
  max_budget_usd: z.number().positive().max(1_000_000).optional(),
  container_memory_mb: z.int().min(128).default(2_048),
  container_cpus: z.number().positive().max(256).default(1),
  container_pids: z.int().min(32).default(512),
  container_network: z.string().min(1).default("bridge"),
  concurrency: z.int().min(1).max(64).default(2),
  mounts: z.array(Mount).default([]),
  mcp: McpSection.default({ servers: {} }),
  claude_model: z.string().min(1).optional(),
  anthropic_api_key: Secret.optional(),
  claude_code_oauth_token: Secret.optional(),
  anthropic_base_url: z.url().optional(),
  state_dir: z.string().min(1).default("~/.loop/runner"),
  workdir_roots: z.array(z.string().min(1)).default([]),
  shutdown_grace_sec: z.int().min(0).max(3_600).default(30),
  log_level: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** The conversation relay: hold Discord's Gateway (one runner at a time does). */
  discord_gateway: z.boolean().default(false),
  /** The bot token (the original's key); DISCORD_BOT_TOKEN from the environment otherwise. */
  discord_token: Secret.optional(),
  discord_api_base: z.url({ protocol: /^https?$/ }).default("https://discord.com/api/v10"),
  /** Where DM conversations without a directory of their own work (on this host). */
  dm_dir: z.string().min(1).optional(),
});
export type ConfigFile = z.input<typeof ConfigFile>;

const KNOWN_KEYS = new Set(Object.keys(ConfigFile.shape));

/** Keys present in a config object that the schema does not know. */
export const unknownKeys = (raw: object): string[] => Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k));

/**
 * Why a key is not read, for keys worth more than "typo?" (keys of the original Loop that
 * mean something else here, or nothing). Keys not listed get the generic hint.
 */
const KEY_NOTES: Record<string, string> = ORIGINAL_KEY_NOTES;

/** The one warning for unknown keys, shown when the runner starts. */
export function unknownKeysNotice(keys: string[]): string {
  const noted = keys.filter((k) => KEY_NOTES[k]);
  const plain = keys.filter((k) => !KEY_NOTES[k]);
  const lines = noted.map((k) => `config: ignoring ${k}: ${KEY_NOTES[k]}`);
  if (plain.length) lines.push(`config: ignoring unknown keys ${plain.join(", ")} (typos?)`);
  return lines.join("\n");
}

/** Parses the text of a config file (HJSON, JSON or JSONC); a syntax error names the file, line and column. */
export function parseConfigText(text: string, file: string): unknown {
  try {
    return Hjson.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // hjson says "… at line 3,5 >>> <excerpt>": lead with file:line:column as compilers do.
    const at = /^(.*?) at line (\d+),(\d+)/s.exec(message);
    if (at) throw new UserError(`${file}:${at[2]}:${at[3]}: not valid HJSON/JSON (${at[1]})`);
    throw new UserError(`${file}: not valid HJSON/JSON (${message})`);
  }
}

/** Reads and parses a config file as an object; null when it does not exist. */
export function readConfigFile(file: string): Record<string, unknown> | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err: any) {
    if (err?.code === "ENOENT" || err?.code === "ENOTDIR") return null;
    throw new UserError(`cannot read ${file}: ${err?.message ?? err}`);
  }
  const raw = parseConfigText(text, file);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${file}: expected a JSON object`);
  return raw as Record<string, unknown>;
}

/** A zod failure as the lines users read: the key path, then what is wrong with it. */
export function issueLines(error: z.ZodError): string {
  return error.issues.map((i) => `  ${i.path.join(".") || "(top level)"}: ${i.message}`).join("\n");
}
