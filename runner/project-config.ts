/**
 * A project's own {workdir}/.loop/config.json, merged over the runner's as in the original:
 * mounts are appended (relative host paths resolved against the project directory), MCP
 * servers are merged with the project winning a name clash, claude_model overrides.
 * Nothing else can be set there: a project cannot change limits, the image or credentials.
 */
import { join } from "node:path";
import { z } from "zod";
import { issueLines, McpServer, Mount, readConfigFile } from "./config-file.ts";
import type { RunnerConfig } from "./config.ts";
import { parseMount, type MountSpec } from "./mounts.ts";
import { UserError } from "./user-error.ts";

export const PROJECT_CONFIG_PATH = ".loop/config.json";

const ProjectConfigFile = z.object({
  mounts: z.array(Mount).default([]),
  mcp: z.object({ servers: z.record(z.string().regex(/^[\w-]+$/), McpServer).default({}) }).default({ servers: {} }),
  claude_model: z.string().min(1).optional(),
});
const ALLOWED = new Set(Object.keys(ProjectConfigFile.shape));

export interface ProjectConfig {
  mounts: MountSpec[];
  mcpServers: Record<string, McpServer>;
  claudeModel: string | null;
  /** Keys the file sets that a project may not override (reported, not applied). */
  ignoredKeys: string[];
}

/** Null when the project has no .loop/config.json; a UserError naming the key when it is wrong. */
export function loadProjectConfig(projectDir: string): ProjectConfig | null {
  const file = join(projectDir, PROJECT_CONFIG_PATH);
  const raw = readConfigFile(file);
  if (raw === null) return null;
  const result = ProjectConfigFile.safeParse(raw);
  if (!result.success) throw new UserError(`${file} is not valid:\n${issueLines(result.error)}`);
  return {
    mounts: result.data.mounts.map((m) => parseMount(m)!),
    mcpServers: result.data.mcp.servers,
    claudeModel: result.data.claude_model ?? null,
    ignoredKeys: Object.keys(raw).filter((k) => !ALLOWED.has(k)),
  };
}

/** A mount together with the directory its relative host path is resolved against. */
export interface PlacedMount extends MountSpec {
  baseDir: string;
  from: "runner" | "project";
}

export interface EffectiveSettings {
  mounts: PlacedMount[];
  mcpServers: Record<string, McpServer>;
  model: string | null;
}

/** The runner's settings with a project's merged in; the job's own model wins over both. */
export function mergeSettings(config: RunnerConfig, project: ProjectConfig | null, projectDir: string, jobModel: string | null): EffectiveSettings {
  return {
    mounts: [
      ...config.mounts.map((m) => ({ ...m, baseDir: config.baseDir, from: "runner" as const })),
      ...(project?.mounts ?? []).map((m) => ({ ...m, baseDir: projectDir, from: "project" as const })),
    ],
    mcpServers: { ...config.mcpServers, ...project?.mcpServers },
    model: jobModel ?? project?.claudeModel ?? config.claudeModel,
  };
}
