/**
 * What one agent container looks like: the claude command line, its MCP configuration,
 * env, mounts, labels, limits. Pure functions of the config and the job, so the benchmark
 * can start the very same container without the runner, and tests can read them.
 */
import type { PermissionPolicy } from "../protocol/policy.ts";
import type { Job } from "../protocol/runner.ts";
import type { McpServer } from "./config-file.ts";
import type { RunnerConfig } from "./config.ts";
import { permissionArgs } from "./permission-hook.ts";
import type { ContainerSpec } from "./docker.ts";

/** The private per-run directory (MCP config with the run token) inside the container. */
export const CONTAINER_RUN_DIR = "/run/loop";
/** Where the runner's own entrypoint script appears in every agent container (read-only). */
export const CONTAINER_ENTRYPOINT = "/run/loop-entrypoint.sh";
export const MCP_CONFIG_FILE = "mcp.json";
/** The name of the Worker's MCP server as the agent sees it: tools are mcp__loop__*. */
export const LOOP_MCP_NAME = "loop";

/**
 * How often the CLI retries a failed API call. Its default (10, over minutes) turns a
 * rejected key into a long hang; a few retries still ride out a brief overload.
 */
const CLAUDE_MAX_RETRIES = 3;

export function claudeArgs(opts: {
  model: string | null;
  resume: string | null;
  appendSystemPrompt?: string | null;
  maxTurns?: number | null;
  maxBudgetUsd?: number | null;
  policy?: PermissionPolicy | null;
}): string[] {
  return [
    "--print",
    "--output-format",
    "stream-json",
    "--verbose",
    ...(opts.model ? ["--model", opts.model] : []),
    ...(opts.resume ? ["--resume", opts.resume] : []),
    // Per-run limits (issue 14): the CLI ends the run itself at either.
    ...(opts.maxTurns ? ["--max-turns", String(opts.maxTurns)] : []),
    ...(opts.maxBudgetUsd ? ["--max-budget-usd", String(opts.maxBudgetUsd)] : []),
    // A loop's system_prompt (docs/loops.md); "=" keeps a text starting with "-" an argument.
    ...(opts.appendSystemPrompt ? [`--append-system-prompt=${opts.appendSystemPrompt}`] : []),
    // `--mcp-config` takes several files: without "=" it would swallow the prompt.
    `--mcp-config=${CONTAINER_RUN_DIR}/${MCP_CONFIG_FILE}`,
    // No policy: every tool runs, as always. Otherwise settings and a hook (issue 13).
    ...permissionArgs(opts.policy ?? null, CONTAINER_RUN_DIR),
  ];
}

/** The configured servers plus the Worker's, which always wins the name "loop". */
export function mcpConfig(job: Pick<Job, "mcp">, servers: Record<string, McpServer>): { mcpServers: Record<string, unknown> } {
  return {
    mcpServers: {
      ...servers,
      [LOOP_MCP_NAME]: { type: "http", url: job.mcp.url, headers: { Authorization: `Bearer ${job.mcp.token}` } },
    },
  };
}

/** Derived from the run, so a restarted runner can find what a crashed one left behind. */
export const containerName = (runnerKey: string, runId: number): string => `loop-${runnerKey}-run-${runId}`;

/**
 * Every agent container carries its run and lease, so a runner restarted after a crash can
 * hand each orphan's lease back to the Worker by itself (runner/recovery.ts). A loop's
 * monitor container carries them too, and its role.
 */
export const LABELS = { runner: "loop.runner", run: "loop.run", channel: "loop.channel", attempt: "loop.attempt", lease: "loop.lease", role: "loop.role" } as const;

/** A loop iteration's monitor container: beside the agent's, never at the same time. */
export const monitorContainerName = (runnerKey: string, runId: number): string => `${containerName(runnerKey, runId)}-monitor`;

/**
 * Where a run's containers work, as job.ts resolved it once for the run: the same for the
 * agent's container and the loop monitor's, so both see the same project, mounts, user and HOME.
 */
export interface RunPlace {
  /** The container's working directory. */
  workdir: string;
  /**
   * Host directories mounted at their real paths for the project: the workdir by default; a
   * worktree task's worktree and its repository's git directory instead.
   */
  projectMounts?: string[];
  /** Extra binds, already resolved and checked ("host:container[:ro]"). */
  binds: string[];
  groupAdd: string[];
  user: string;
  /** The agent's HOME: where `~` in mounts points, so ~/.gitconfig and ~/.ssh are found. */
  home: string | null;
  /** A writable directory mounted at `home` (the channel's own), unless a project mount covers it. */
  homeDir?: string | null;
  /** A passwd file naming the user with `home` (workspace.ts writePasswd), over /etc/passwd. */
  passwdFile?: string | null;
}

type ContainerConfig = Pick<RunnerConfig, "image" | "memoryMb" | "cpus" | "pids" | "network">;
type ContainerJob = Pick<Job, "run_id" | "channel_id" | "attempt" | "lease_id">;

/**
 * What every container of a run has: the image, the place (project mounts, HOME and passwd,
 * extra binds, user), the run's labels, its env basics and the configured limits. The agent's
 * and the monitor's specs add their own command, env and mounts to this.
 */
function runContainer(config: ContainerConfig, job: ContainerJob, runnerKey: string, place: RunPlace, role?: "monitor"): Omit<ContainerSpec, "name" | "cmd"> {
  return {
    image: config.image,
    env: [`LOOP_RUN_ID=${job.run_id}`, `LOOP_CHANNEL_ID=${job.channel_id}`, ...(place.home ? [`HOME=${place.home}`] : [])],
    workingDir: place.workdir,
    user: place.user,
    labels: {
      [LABELS.runner]: runnerKey,
      [LABELS.run]: String(job.run_id),
      [LABELS.channel]: job.channel_id,
      [LABELS.attempt]: String(job.attempt),
      [LABELS.lease]: job.lease_id,
      ...(role ? { [LABELS.role]: role } : {}),
    },
    binds: [
      ...(place.projectMounts ?? [place.workdir]).map((d) => `${d}:${d}`),
      ...(place.homeDir && place.home ? [`${place.homeDir}:${place.home}`] : []),
      ...(place.passwdFile ? [`${place.passwdFile}:/etc/passwd:ro`] : []),
      ...place.binds,
    ],
    memoryBytes: config.memoryMb * 1024 * 1024,
    nanoCpus: Math.round(config.cpus * 1e9),
    pidsLimit: config.pids,
    network: config.network,
    groupAdd: place.groupAdd,
  };
}

export interface MonitorSpecInput {
  config: ContainerConfig;
  job: ContainerJob;
  runnerKey: string;
  command: string;
  place: RunPlace;
}

/**
 * The monitor command's container (docs/loops.md): the agent's image, project directory,
 * extra mounts, user, HOME, limits and network, but no credentials, no Claude state and no
 * run token (the private run dir is not mounted): /bin/sh -c <command> in the project.
 */
export function buildMonitorSpec(i: MonitorSpecInput): ContainerSpec {
  return {
    ...runContainer(i.config, i.job, i.runnerKey, i.place, "monitor"),
    name: monitorContainerName(i.runnerKey, i.job.run_id),
    entrypoint: ["/bin/sh", "-c"],
    cmd: [i.command],
  };
}

export interface SpecInput {
  config: ContainerConfig & Pick<RunnerConfig, "anthropicBaseUrl">;
  job: ContainerJob & Partial<Pick<Job, "append_system_prompt">>;
  runnerKey: string;
  place: RunPlace;
  claudeDir: string;
  runDir: string;
  /**
   * The runner's entrypoint script on the host, mounted read-only and run with /bin/sh, so
   * the image needs no Loop entrypoint of its own. Absent: the image's entrypoint runs.
   */
  entrypointFile?: string | null;
  model: string | null;
  resume: string | null;
  maxTurns?: number | null;
  maxBudgetUsd?: number | null;
  /** The run's permission policy (Job.policy); null or absent: none. */
  policy?: PermissionPolicy | null;
}

export function buildContainerSpec(i: SpecInput): ContainerSpec {
  const base = runContainer(i.config, i.job, i.runnerKey, i.place);
  return {
    ...base,
    name: containerName(i.runnerKey, i.job.run_id),
    ...(i.entrypointFile ? { entrypoint: ["/bin/sh", CONTAINER_ENTRYPOINT] } : {}),
    cmd: claudeArgs({
      model: i.model,
      resume: i.resume,
      appendSystemPrompt: i.job.append_system_prompt ?? null,
      maxTurns: i.maxTurns ?? null,
      maxBudgetUsd: i.maxBudgetUsd ?? null,
      policy: i.policy ?? null,
    }),
    env: [
      `CLAUDE_CONFIG_DIR=${i.claudeDir}`,
      // The entrypoint reads credentials, then leaves the rest of stdin to claude: the prompt.
      "LOOP_PROMPT_ON_STDIN=1",
      // Offer mcp__loop__* tools directly instead of hiding them behind ToolSearch.
      "ENABLE_TOOL_SEARCH=false",
      // Only POST /v1/messages: no telemetry, update checks or error reports from the container.
      "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
      "DISABLE_AUTOUPDATER=1",
      `CLAUDE_CODE_MAX_RETRIES=${CLAUDE_MAX_RETRIES}`,
      ...base.env,
      ...(i.config.anthropicBaseUrl ? [`ANTHROPIC_BASE_URL=${i.config.anthropicBaseUrl}`] : []),
      `LOOP_IMAGE=${i.config.image}`,
    ],
    binds: [
      ...base.binds,
      ...(i.entrypointFile ? [`${i.entrypointFile}:${CONTAINER_ENTRYPOINT}:ro`] : []),
      `${i.claudeDir}:${i.claudeDir}`,
      `${i.runDir}:${CONTAINER_RUN_DIR}:ro`,
    ],
  };
}
