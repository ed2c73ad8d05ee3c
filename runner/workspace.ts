/**
 * The host side of one job: the project directory (checked, never created), the channel's
 * persistent Claude state, the private per-run directory holding the MCP config with the
 * run token, and the extra mounts that survive their checks.
 *
 * Layout under state_dir:
 *   channels/<channel>/claude   CLAUDE_CONFIG_DIR: sessions, so --resume works across containers
 *   channels/<channel>/work     the workdir of a channel without a dir_path
 *   channels/<channel>/usage.json  what the CLI last reported for the session (usage-ledger.ts)
 *   runs/<run>-<lease>/mcp.json    0600, owned by the container user; deleted after the run
 */
import { createHash } from "node:crypto";
import { chownSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Job } from "../protocol/runner.ts";
import type { McpServer } from "./config-file.ts";
import type { RunnerConfig } from "./config.ts";
import { CONTAINER_RUN_DIR, MCP_CONFIG_FILE, mcpConfig } from "./container-spec.ts";
import { HOOK_FILE, permissionFiles, SETTINGS_FILE } from "./permission-hook.ts";
import type { Logger } from "./log.ts";
import { bindString, hostPathKind, isDockerSocket, resolveMount } from "./mounts.ts";
import type { PlacedMount } from "./project-config.ts";

/** The image's non-root user (runner/image/Dockerfile: node's uid 1000, renamed "agent"). */
export const AGENT_UID = 1000;
export const AGENT_GID = 1000;

/** A job-setup failure the user can act on; it fails the run with this message. */
export class SetupError extends Error {
  override name = "SetupError";
}

export interface Identity {
  uid: number;
  gid: number;
}

/**
 * Who the container runs as. A root runner hands files to the image's own user (1000); a
 * runner started by a person runs containers as that person, so the files the agent
 * writes in the project belong to them and the private files stay readable.
 */
export function containerIdentity(): Identity {
  const uid = process.getuid?.() ?? AGENT_UID;
  const gid = process.getgid?.() ?? AGENT_GID;
  return uid === 0 ? { uid: AGENT_UID, gid: AGENT_GID } : { uid, gid };
}

const isRoot = () => process.getuid?.() === 0;

/** Creates a directory for the container user (mode as given; chowned when we can). */
function ownedDir(path: string, id: Identity, mode = 0o755): void {
  mkdirSync(path, { recursive: true, mode });
  if (isRoot()) chownSync(path, id.uid, id.gid);
}

/** A channel id as a path segment: kept when it is plainly safe, hashed otherwise. */
export function safeSegment(id: string): string {
  return /^[\w.-]{1,100}$/.test(id) && !/^\.+$/.test(id) ? id : createHash("sha256").update(id).digest("hex").slice(0, 24);
}

/**
 * Whose Claude state a job uses: a thread shares its parent's (the Worker sends state_key),
 * so a follow-up in a run's thread can --resume the session its parent's run began.
 */
export const stateKey = (job: Pick<Job, "channel_id" | "state_key">): string => job.state_key ?? job.channel_id;

export const channelDir = (stateDir: string, channelId: string): string => join(stateDir, "channels", safeSegment(channelId));
export const runsDir = (stateDir: string): string => join(stateDir, "runs");

const inside = (child: string, root: string) => {
  const rel = relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
};

/** The project directory: must exist; never "/"; inside workdir_roots when those are set. */
export function resolveWorkdir(config: Pick<RunnerConfig, "stateDir" | "workdirRoots">, job: Pick<Job, "workdir" | "channel_id" | "state_key">, id: Identity): string {
  if (job.workdir === null) {
    // Claude keys sessions by working directory: a thread resuming its parent's session must work where it did.
    const dir = join(channelDir(config.stateDir, stateKey(job)), "work");
    ownedDir(dir, id);
    return dir;
  }
  if (!isAbsolute(job.workdir)) throw new SetupError(`the channel's directory "${job.workdir}" is not an absolute path`);
  const workdir = resolve(job.workdir);
  if (workdir === "/") throw new SetupError(`refusing to mount "/" as the project directory`);
  if (config.workdirRoots.length && !config.workdirRoots.some((r) => inside(workdir, r)))
    throw new SetupError(`the directory ${workdir} is outside workdir_roots (${config.workdirRoots.join(", ")}) on this runner`);
  const st = statSync(workdir, { throwIfNoEntry: false });
  if (!st) throw new SetupError(`the directory ${workdir} does not exist on this runner host; create it or fix the channel's dir_path`);
  if (!st.isDirectory()) throw new SetupError(`${workdir} is not a directory`);
  return workdir;
}

/**
 * The agent's home, one per channel: mounted at the runner user's home path, which `~` in
 * mounts expands to, so a mounted ~/.gitconfig or ~/.ssh is where git and ssh look, and the
 * rest of HOME is writable and kept between runs (caches, shell history).
 */
export function prepareHomeDir(stateDir: string, channelId: string, id: Identity): string {
  const dir = join(channelDir(stateDir, channelId), "home");
  ownedDir(join(channelDir(stateDir, channelId)), id);
  ownedDir(dir, id, 0o700);
  return dir;
}

/** Whether `dir` is `home` or holds it: then the project mount already provides HOME. */
export const covers = (dir: string, home: string): boolean => inside(home, dir);

export function prepareClaudeDir(stateDir: string, channelId: string, id: Identity): string {
  const dir = join(channelDir(stateDir, channelId), "claude");
  ownedDir(join(channelDir(stateDir, channelId)), id);
  ownedDir(dir, id, 0o700);
  return dir;
}

/**
 * The private run directory with the MCP config (it holds the run token): 0700 / 0600. With a
 * permission policy, also the settings file and the hook Claude Code runs (issue 13).
 */
export function writeRunDir(
  stateDir: string,
  job: Pick<Job, "run_id" | "lease_id" | "mcp"> & Partial<Pick<Job, "policy" | "approval">>,
  servers: Record<string, McpServer>,
  id: Identity,
  workdir?: string,
): string {
  mkdirSync(runsDir(stateDir), { recursive: true, mode: 0o700 });
  const dir = join(runsDir(stateDir), `${job.run_id}-${safeSegment(job.lease_id).slice(-12)}`);
  rmSync(dir, { recursive: true, force: true });
  ownedDir(dir, id, 0o700);
  const files: [string, string][] = [[MCP_CONFIG_FILE, JSON.stringify(mcpConfig(job, servers))]];
  if (job.policy) {
    const p = permissionFiles({ policy: job.policy, approval: job.approval ?? null, workdir: workdir ?? "/", runDir: CONTAINER_RUN_DIR, runId: job.run_id });
    files.push([SETTINGS_FILE, p.settings]);
    if (p.hook) files.push([HOOK_FILE, p.hook]);
  }
  for (const [name, content] of files) {
    const file = join(dir, name);
    writeFileSync(file, content, { mode: 0o600 });
    if (isRoot()) chownSync(file, id.uid, id.gid);
  }
  return dir;
}

/** The passwd file mounted over the image's /etc/passwd: see passwdFor. */
export const PASSWD_FILE = "passwd";

/**
 * An /etc/passwd naming the container's user with HOME as its home. ssh (and anything using
 * getpwuid) finds ~ through passwd, not $HOME, and a non-root container cannot add its own
 * user as the original's entrypoint did; so the runner writes one into the run dir. The
 * shell is bash, which the Claude CLI's Bash tool needs anyway.
 */
export function writePasswd(runDir: string, id: Identity, home: string): string {
  const file = join(runDir, PASSWD_FILE);
  const lines = [`root:x:0:0:root:/root:/bin/bash`, ...(id.uid === 0 ? [] : [`agent:x:${id.uid}:${id.gid}:Loop agent:${home}:/bin/bash`])];
  writeFileSync(file, `${lines.join("\n")}\n`, { mode: 0o644 });
  return file;
}

export function removeRunDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Extra mounts that can be used: `~` expanded, relative paths resolved, missing host paths
 * skipped (with a log line, as in the original), duplicates of a path already mounted
 * dropped. A docker.sock mount brings the socket's group, so the agent can use it.
 */
export function resolveBinds(mounts: PlacedMount[], taken: string[], home: string, log: Logger, fields: Record<string, unknown>): { binds: string[]; groupAdd: string[] } {
  const binds: string[] = [];
  const groupAdd = new Set<string>();
  const used = new Set(taken);
  for (const m of mounts) {
    const r = resolveMount(m, { home, baseDir: m.baseDir });
    const written = `${m.host}:${m.container}${m.readOnly ? ":ro" : ""}`;
    if ("error" in r) {
      log.warn("mount skipped", { ...fields, mount: written, from: m.from, reason: r.error });
      continue;
    }
    const kind = hostPathKind(r.host);
    if (kind === "missing") {
      log.info("mount skipped: host path does not exist", { ...fields, mount: written, host_path: r.host, from: m.from });
      continue;
    }
    if (used.has(r.container)) {
      log.warn("mount skipped: container path already mounted", { ...fields, mount: written, from: m.from });
      continue;
    }
    used.add(r.container);
    binds.push(bindString(r));
    if (kind === "socket" && isDockerSocket(r)) groupAdd.add(String(statSync(r.host).gid));
  }
  return { binds, groupAdd: [...groupAdd] };
}
