/**
 * Extra mounts, written as in the original: "host_path:container_path[:ro]". `~` expands to
 * the runner user's home on both sides (so "~/.gitconfig:~/.gitconfig:ro" is
 * path-preserving); a relative host path is resolved against the directory of the config
 * that named it (the project directory for a project's .loop/config.json).
 */
import { statSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";

export interface MountSpec {
  host: string;
  container: string;
  readOnly: boolean;
}

export const MOUNT_FORMAT = '"host_path:container_path" or "host_path:container_path:ro"';

/** Parses the string form; null when it does not have two or three parts. */
export function parseMount(text: string): MountSpec | null {
  const parts = text.split(":");
  if (parts.length < 2 || parts.length > 3) return null;
  const [host, container, mode] = parts as [string, string, string | undefined];
  if (!host.trim() || !container.trim()) return null;
  if (mode !== undefined && mode !== "ro" && mode !== "rw") return null;
  return { host: host.trim(), container: container.trim(), readOnly: mode === "ro" };
}

export function expandHome(path: string, home: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return path;
}

/** Absolute host and container paths, or an explanation of why the mount cannot be used. */
export function resolveMount(m: MountSpec, opts: { home: string; baseDir: string }): MountSpec | { error: string } {
  const host = resolve(opts.baseDir, expandHome(m.host, opts.home));
  const container = expandHome(m.container, opts.home);
  if (!isAbsolute(container)) return { error: `container path "${m.container}" must be absolute (or start with ~/)` };
  return { host, container, readOnly: m.readOnly };
}

export type HostPathKind = "missing" | "socket" | "other";

export function hostPathKind(path: string): HostPathKind {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return "missing";
  return st.isSocket() ? "socket" : "other";
}

/** The Docker Engine socket, whose group the container needs when a mount names it. */
export function isDockerSocket(m: MountSpec): boolean {
  return /(^|\/)docker\.sock$/.test(m.host) || /(^|\/)docker\.sock$/.test(m.container);
}

export const bindString = (m: MountSpec): string => `${m.host}:${m.container}${m.readOnly ? ":ro" : ""}`;
