// Builds the agent image for tests without any image registry.
//
// The production image (runner/image/Dockerfile) starts FROM node:22-slim,
// which cannot be pulled here. For tests we assemble a minimal root
// filesystem from the host instead: glibc (found with ldd), bash, busybox and
// its applets, a non-root user `agent` (uid 1000), the real `claude` binary
// from node_modules, and the same entrypoint (runner/image/entrypoint.sh).
// The tarball is imported with `docker import` through the Engine API.
//
// The tag carries a hash of everything that goes in, so a rebuild happens only
// when an input changes; otherwise ensureTestAgentImage() returns at once.
// Needs root on the host (for chown to uid 1000), a running daemon
// (scripts/ensure-docker.sh) and busybox (installed via apt if missing).

import Docker from "dockerode";
import { createHash } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const AGENT_UID = 1000;
export const AGENT_GID = 1000;
export const AGENT_HOME = "/home/agent";
export const ENTRYPOINT_PATH = "/usr/local/bin/loop-entrypoint";
export const TEST_IMAGE_REPO = "loop-agent-test";

/** Bump when the recipe below changes in a way the input hash does not see. */
const RECIPE_VERSION = 1;

const repoRoot = resolve(import.meta.dirname, "../..");
const entrypointSrc = join(repoRoot, "runner/image/entrypoint.sh");
const claudeBinary = join(repoRoot, "node_modules/@anthropic-ai/claude-code-linux-x64/claude");

let building: Promise<string> | undefined;

/**
 * Returns the tag (e.g. "loop-agent-test:3f2a9c1b0d4e") of an image with the
 * claude CLI, bash, busybox and the Loop entrypoint; builds it if missing.
 * Safe to call from several test files at once (in-process memo + a lock dir).
 */
export function ensureTestAgentImage(opts: { docker?: Docker; log?: (msg: string) => void } = {}): Promise<string> {
  building ??= build(opts.docker ?? new Docker(), opts.log ?? (() => {})).catch((err) => {
    building = undefined;
    throw err;
  });
  return building;
}

async function build(docker: Docker, log: (msg: string) => void): Promise<string> {
  if (!existsSync(claudeBinary)) throw new Error(`claude binary not found at ${claudeBinary} (npm install?)`);
  const busybox = findBusybox(log);
  const bash = realpathSync(which("bash"));
  const hash = createHash("sha256");
  hash.update(`recipe ${RECIPE_VERSION}\n`);
  hash.update(readFileSync(entrypointSrc));
  for (const f of [bash, busybox]) {
    const st = statSync(f);
    hash.update(`${f} ${st.size} ${st.mtimeMs}\n`);
  }
  // The claude binary by its package (version) and size, not its path or mtime: checkouts of
  // the same version (a CI clone next to a working copy) then share one tag, instead of each
  // build removing the other's image as stale while its tests are using it.
  hash.update(`claude ${statSync(claudeBinary).size}\n`);
  hash.update(readFileSync(join(repoRoot, "node_modules/@anthropic-ai/claude-code-linux-x64/package.json")));
  const tag = `${TEST_IMAGE_REPO}:${hash.digest("hex").slice(0, 12)}`;

  if (await imageExists(docker, tag)) return tag;

  const release = await lock(docker, tag);
  try {
    if (await imageExists(docker, tag)) return tag;
    const started = Date.now();
    log(`building ${tag}`);
    const root = mkdtempSync(join(tmpdir(), "loop-agent-rootfs-"));
    try {
      assembleRootfs(root, { bash, busybox });
      await importRootfs(docker, root, tag);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    log(`built ${tag} in ${Date.now() - started} ms`);
    await removeStaleTags(docker, tag, log);
    return tag;
  } finally {
    release();
  }
}

function assembleRootfs(root: string, bins: { bash: string; busybox: string }) {
  const dir = (p: string, mode = 0o755) => {
    mkdirSync(join(root, p), { recursive: true });
    chmodSync(join(root, p), mode);
  };
  const file = (p: string, content: string, mode = 0o644) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), content, { mode });
  };
  // Merged-/usr layout, like Debian 12: /bin, /lib, /lib64, /sbin are links into /usr.
  for (const d of ["usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/local/bin", "etc", "root", "dev", "proc", "sys", "home"]) dir(d);
  for (const d of ["bin", "sbin", "lib", "lib64"]) symlinkSync(`usr/${d}`, join(root, d));
  dir("tmp", 0o1777);
  dir("var/tmp", 0o1777);

  // Binaries and the shared libraries they need (plus NSS for user lookups).
  const libs = new Set<string>();
  for (const bin of [bins.bash, bins.busybox, claudeBinary]) for (const l of lddDeps(bin)) libs.add(l);
  for (const extra of ["libnss_files.so.2"]) {
    const found = [...libs].map((l) => join(dirname(l), extra)).find(existsSync);
    if (found) libs.add(found);
  }
  for (const lib of libs) place(lib, join(root, underUsr(lib)));
  place(bins.bash, join(root, "usr/bin/bash"));
  place(bins.busybox, join(root, "usr/bin/busybox"));
  place(claudeBinary, join(root, "usr/local/bin/claude"));
  copyFileSync(entrypointSrc, join(root, ENTRYPOINT_PATH.slice(1)));
  chmodSync(join(root, ENTRYPOINT_PATH.slice(1)), 0o755);

  // busybox applets (sh, ls, cat, mkdir, env, grep, ...) as links in /usr/bin.
  const applets = execFileSync(bins.busybox, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const a of applets) {
    const target = join(root, "usr/bin", a);
    if (!existsSync(target)) symlinkSync("busybox", target);
  }

  file("etc/passwd", `root:x:0:0:root:/root:/bin/bash\nagent:x:${AGENT_UID}:${AGENT_GID}:agent:${AGENT_HOME}:/bin/bash\n`);
  file("etc/group", `root:x:0:\nagent:x:${AGENT_GID}:\n`);
  file("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n");
  dir(AGENT_HOME.slice(1), 0o755);
  chownSync(join(root, AGENT_HOME.slice(1)), AGENT_UID, AGENT_GID);
}

async function importRootfs(docker: Docker, root: string, tag: string) {
  const [repo, version] = tag.split(":");
  const tar = spawn("tar", ["--numeric-owner", "-C", root, "-cf", "-", "."], { stdio: ["ignore", "pipe", "pipe"] });
  let tarErr = "";
  tar.stderr.on("data", (d) => (tarErr += d));
  const tarDone = new Promise<void>((ok, fail) =>
    tar.on("close", (code) => (code === 0 ? ok() : fail(new Error(`tar exited ${code}: ${tarErr}`)))),
  );
  const changes = [
    `ENTRYPOINT ["${ENTRYPOINT_PATH}"]`,
    `USER agent`,
    `WORKDIR ${AGENT_HOME}`,
    `ENV PATH=/usr/local/bin:/usr/bin:/bin`,
    `ENV HOME=${AGENT_HOME}`,
    `ENV DISABLE_AUTOUPDATER=1`,
  ];
  const progress = await docker.importImage(tar.stdout as any, { repo, tag: version, changes } as any);
  const events: any[] = await new Promise((ok, fail) =>
    docker.modem.followProgress(progress as any, (err: Error | null, out: any[]) => (err ? fail(err) : ok(out))),
  );
  await tarDone;
  const failed = events.find((e) => e.error || e.errorDetail);
  if (failed) throw new Error(`docker import failed: ${failed.error ?? JSON.stringify(failed.errorDetail)}`);
  if (!(await imageExists(docker, tag))) throw new Error(`docker import finished but ${tag} is missing: ${JSON.stringify(events)}`);
}

// ---------- helpers ----------

async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  try {
    await docker.getImage(tag).inspect();
    return true;
  } catch (err: any) {
    if (err?.statusCode === 404) return false;
    throw err;
  }
}

/** Drop earlier builds (other tags of the same repo); images still used by a container stay. */
async function removeStaleTags(docker: Docker, keep: string, log: (msg: string) => void) {
  const images = await docker.listImages({ filters: { reference: [TEST_IMAGE_REPO] } });
  for (const image of images)
    for (const t of image.RepoTags ?? [])
      if (t !== keep)
        await docker.getImage(t).remove().then(
          () => log(`removed stale ${t}`),
          () => {},
        );
}

/** A lock directory per tag, so parallel test workers build once. Stale after 10 min. */
async function lock(docker: Docker, tag: string): Promise<() => void> {
  const path = join(tmpdir(), `${tag.replace(/[^\w.-]/g, "_")}.lock`);
  for (;;) {
    try {
      mkdirSync(path);
      return () => rmSync(path, { recursive: true, force: true });
    } catch (err: any) {
      if (err.code !== "EEXIST") throw err;
      const since = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
      if (since === undefined) continue;
      if (Date.now() - since > 10 * 60_000) rmSync(path, { recursive: true, force: true });
      else if (await imageExists(docker, tag)) return () => {};
      else await new Promise((r) => setTimeout(r, 500));
    }
  }
}

function which(cmd: string): string {
  return execFileSync("bash", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim();
}

function findBusybox(log: (msg: string) => void): string {
  for (const p of ["/usr/bin/busybox", "/bin/busybox", "/usr/sbin/busybox"]) if (existsSync(p)) return realpathSync(p);
  log("busybox not found on the host: apt-get install busybox-static");
  const apt = (args: string[]) => execFileSync("apt-get", args, { stdio: "ignore", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  try {
    apt(["install", "-y", "-qq", "busybox-static"]);
  } catch {
    apt(["update", "-qq"]);
    apt(["install", "-y", "-qq", "busybox-static"]);
  }
  return realpathSync("/bin/busybox");
}

/** Absolute paths of the shared objects `bin` loads (empty for static binaries). */
function lddDeps(bin: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [bin], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    return []; // "not a dynamic executable"
  }
  const deps: string[] = [];
  for (const line of out.split("\n")) {
    const m = line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/);
    if (m?.[1]) deps.push(m[1]);
  }
  return deps;
}

/** /lib/x/libc.so.6 -> usr/lib/x/libc.so.6; /usr/lib/x/y -> usr/lib/x/y (the rootfs is merged-/usr). */
function underUsr(p: string): string {
  return p.startsWith("/usr/") ? p.slice(1) : `usr${p}`;
}

/** Put the real file behind `src` at `dest`: a hard link when possible (no copy of 380 MB), else a copy. */
function place(src: string, dest: string) {
  const real = realpathSync(src);
  mkdirSync(dirname(dest), { recursive: true });
  if (existsSync(dest)) return;
  try {
    linkSync(real, dest);
  } catch {
    copyFileSync(real, dest);
    chmodSync(dest, statSync(real).mode & 0o7777);
  }
}
