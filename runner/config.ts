/**
 * The runner's configuration: ~/.loop/config.json (comments and trailing commas allowed),
 * parsed once here by one zod schema and handed to everything else as a RunnerConfig.
 * Nothing deeper reads process.env: the credential and base URL fall back to the env
 * only in this file.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { parseJsonc } from "./jsonc.ts";
import { expandHome, MOUNT_FORMAT, parseMount, type MountSpec } from "./mounts.ts";
import { UserError } from "./user-error.ts";

export const DEFAULT_IMAGE = "loop-agent:latest";
/** What config.example.jsonc holds until the user pastes a real token. */
export const ONBOARD_PLACEHOLDER = "PASTE-THE-RUNNER-TOKEN-HERE";

const Mount = z.string().refine((s) => parseMount(s) !== null, { message: `a mount must look like ${MOUNT_FORMAT}` });

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

export const ConfigFile = z.object({
  worker_url: z.url({ protocol: /^https?$/, error: "must be the Worker's http(s) URL, e.g. https://loop.example.workers.dev" }),
  runner_token: Secret.refine((s) => s !== ONBOARD_PLACEHOLDER, { message: "still the placeholder from `loop onboard`: paste the token POST /api/runners returned" }),
  labels: z.array(z.string().min(1)).default([]),
  container_image: z.string().min(1).default(DEFAULT_IMAGE),
  container_timeout_sec: z.int().min(1).max(86_400).default(1_800),
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
});
export type ConfigFile = z.input<typeof ConfigFile>;

const KNOWN_KEYS = new Set(Object.keys(ConfigFile.shape));

export interface Credential {
  name: "ANTHROPIC_API_KEY" | "CLAUDE_CODE_OAUTH_TOKEN";
  value: string;
}

export interface RunnerConfig {
  workerUrl: string;
  runnerToken: string;
  labels: string[];
  image: string;
  timeoutSec: number;
  memoryMb: number;
  cpus: number;
  pids: number;
  network: string;
  concurrency: number;
  mounts: MountSpec[];
  mcpServers: Record<string, McpServer>;
  claudeModel: string | null;
  /** Reaches containers only through stdin (entrypoint.sh). Never logged. */
  credentials: Credential[];
  anthropicBaseUrl: string | null;
  stateDir: string;
  workdirRoots: string[];
  shutdownGraceSec: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** The runner user's home, for ~ in mounts. */
  home: string;
  /** Relative host paths in `mounts` are resolved against this (the config file's folder). */
  baseDir: string;
  /** Keys present in the file that the runner does not know (warned about at start). */
  unknownKeys: string[];
}

export interface ConfigSources {
  env?: Record<string, string | undefined>;
  home?: string;
  /** Where the values came from, for relative paths and error messages. */
  file?: string;
}

/** Validates a parsed config object; errors name the key and the file. */
export function parseConfig(raw: unknown, sources: ConfigSources = {}): RunnerConfig {
  const env = sources.env ?? process.env;
  const home = sources.home ?? env.HOME ?? homedir();
  const where = sources.file ?? "config";
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`${where}: expected a JSON object`);
  const result = ConfigFile.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new UserError(`${where} is not valid:\n${lines.join("\n")}`);
  }
  const c = result.data;
  const baseDir = sources.file ? dirname(resolve(sources.file)) : process.cwd();

  const credentials: Credential[] = [];
  const apiKey = c.anthropic_api_key ?? (env.ANTHROPIC_API_KEY || undefined);
  const oauth = c.claude_code_oauth_token ?? (env.CLAUDE_CODE_OAUTH_TOKEN || undefined);
  if (apiKey) credentials.push({ name: "ANTHROPIC_API_KEY", value: apiKey });
  if (oauth) credentials.push({ name: "CLAUDE_CODE_OAUTH_TOKEN", value: oauth });
  if (!credentials.length)
    throw new UserError(`${where}: no Anthropic credential: set anthropic_api_key or claude_code_oauth_token, or export ANTHROPIC_API_KEY / CLAUDE_CODE_OAUTH_TOKEN`);
  for (const cred of credentials)
    if (/[\r\n]/.test(cred.value)) throw new UserError(`${cred.name} from the environment must be a single line`);

  const baseUrl = c.anthropic_base_url ?? (env.ANTHROPIC_BASE_URL || undefined);
  if (baseUrl && !z.url().safeParse(baseUrl).success) throw new UserError(`ANTHROPIC_BASE_URL is not a URL: ${baseUrl}`);

  const roots = c.workdir_roots.map((r) => expandHome(r, home));
  const badRoot = roots.find((r) => !isAbsolute(r));
  if (badRoot) throw new UserError(`${where} is not valid:\n  workdir_roots: "${badRoot}" must be an absolute path`);

  return {
    workerUrl: c.worker_url.replace(/\/+$/, ""),
    runnerToken: c.runner_token,
    labels: c.labels,
    image: c.container_image,
    timeoutSec: c.container_timeout_sec,
    memoryMb: c.container_memory_mb,
    cpus: c.container_cpus,
    pids: c.container_pids,
    network: c.container_network,
    concurrency: c.concurrency,
    mounts: c.mounts.map((m) => parseMount(m)!),
    mcpServers: c.mcp.servers,
    claudeModel: c.claude_model ?? null,
    credentials,
    anthropicBaseUrl: baseUrl ?? null,
    stateDir: resolve(baseDir, expandHome(c.state_dir, home)),
    workdirRoots: roots,
    shutdownGraceSec: c.shutdown_grace_sec,
    logLevel: c.log_level,
    home,
    baseDir,
    unknownKeys: Object.keys(raw).filter((k) => !KNOWN_KEYS.has(k)),
  };
}

export const defaultConfigPath = (env: Record<string, string | undefined> = process.env): string =>
  resolve(env.HOME ?? homedir(), ".loop", "config.json");

/** Reads and validates a config file. */
export function loadConfig(file: string, sources: Omit<ConfigSources, "file"> = {}): RunnerConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err: any) {
    if (err?.code === "ENOENT") throw new UserError(`no config at ${file}: run \`loop onboard\` to create one`);
    throw new UserError(`cannot read ${file}: ${err?.message ?? err}`);
  }
  return parseConfig(parseJsonc(text, file), { ...sources, file });
}
