/**
 * The runner's configuration: ~/.loop/config.json (schema and reader in config-file.ts),
 * validated once here and handed to everything else as a RunnerConfig.
 * Nothing deeper reads process.env: the credential and base URL fall back to the env
 * only in this file.
 */
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { ConfigFile, issueLines, readConfigFile, RunnerToken, unknownKeys, WorkerUrl, type McpServer } from "./config-file.ts";
import { expandHome, parseMount, type MountSpec } from "./mounts.ts";
import { UserError } from "./user-error.ts";

/** The file's schema with the two keys the runner cannot do without. */
export const RunnerConfigFile = ConfigFile.extend({ worker_url: WorkerUrl, runner_token: RunnerToken });
export type RunnerConfigFile = z.input<typeof RunnerConfigFile>;

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
  /** Stop a run whose CLI printed no stream-json line for this long. */
  stallTimeoutSec: number;
  /** Ceilings for a job's max_turns / max_budget_usd (null: none). */
  maxTurns: number | null;
  maxBudgetUsd: number | null;
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
  /** Set when this runner offers to relay Discord's Gateway (`discord_gateway: true`). */
  discord: { token: string; apiBase: string; dmDir: string | null } | null;
  /** The runner user's home, for ~ in mounts. */
  home: string;
  /** Relative host paths in `mounts` are resolved against this (the config file's folder). */
  baseDir: string;
  /**
   * Keys present in the file that the runner does not read (warned about at start): unknown
   * keys, and the original Loop's discord_token while the relay is off.
   */
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
  const result = RunnerConfigFile.safeParse(raw);
  if (!result.success) throw new UserError(`${where} is not valid:\n${issueLines(result.error)}`);
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

  const discordToken = c.discord_token ?? (env.DISCORD_BOT_TOKEN || undefined);
  if (c.discord_gateway && !discordToken)
    throw new UserError(`${where} is not valid:\n  discord_token: discord_gateway is on, so the bot token is needed (or export DISCORD_BOT_TOKEN)`);
  const dmDir = c.dm_dir ? expandHome(c.dm_dir, home) : null;
  if (dmDir && !isAbsolute(dmDir)) throw new UserError(`${where} is not valid:\n  dm_dir: "${c.dm_dir}" must be an absolute path`);

  return {
    workerUrl: c.worker_url.replace(/\/+$/, ""),
    runnerToken: c.runner_token,
    labels: c.labels,
    image: c.container_image,
    timeoutSec: c.container_timeout_sec,
    stallTimeoutSec: c.stall_timeout_sec,
    maxTurns: c.max_turns ?? null,
    maxBudgetUsd: c.max_budget_usd ?? null,
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
    discord: c.discord_gateway ? { token: discordToken!, apiBase: c.discord_api_base.replace(/\/+$/, ""), dmDir } : null,
    home,
    baseDir,
    unknownKeys: [...unknownKeys(raw), ...(c.discord_token && !c.discord_gateway ? ["discord_token"] : [])],
  };
}

/** Reads and validates a config file. */
export function loadConfig(file: string, sources: Omit<ConfigSources, "file"> = {}): RunnerConfig {
  const raw = readConfigFile(file);
  if (raw === null) throw new UserError(`no config at ${file}: run \`loop onboard\` to create one`);
  return parseConfig(raw, { ...sources, file });
}
