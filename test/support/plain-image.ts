// Agent images made the way a user of the original Loop makes theirs: no Loop entrypoint,
// no Loop user, just tools on the PATH. Assembled from the host's binaries (busybox for
// /bin/sh, the real `claude`, git and ssh when asked) and `docker import`ed, like
// agent-image.ts, under a repository of its own ("loop-parity-test") so removing its stale
// tags never touches the images other tests use. Tags carry a hash of the inputs.

import Docker from "dockerode";
import { createHash } from "node:crypto";
import { execFileSync, spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const PLAIN_IMAGE_REPO = "loop-parity-test";
const repoRoot = resolve(import.meta.dirname, "../..");
const claudeBinary = join(repoRoot, "node_modules/@anthropic-ai/claude-code-linux-x64/claude");

export interface PlainImageOptions {
  /** Put the claude CLI in (default true). Without it the image is the "no claude" case. */
  claude?: boolean;
  /** Put git and ssh in (default false). */
  gitAndSsh?: boolean;
}

const building = new Map<string, Promise<string>>();

export function ensurePlainImage(opts: PlainImageOptions = {}, docker = new Docker()): Promise<string> {
  const key = JSON.stringify(opts);
  let p = building.get(key);
  if (!p) {
    p = build(docker, { claude: opts.claude ?? true, gitAndSsh: opts.gitAndSsh ?? false });
    p.catch(() => building.delete(key));
    building.set(key, p);
  }
  return p;
}

async function build(docker: Docker, opts: Required<PlainImageOptions>): Promise<string> {
  const busybox = ["/usr/bin/busybox", "/bin/busybox"].find(existsSync);
  if (!busybox) throw new Error("busybox not found (agent-image.ts installs busybox-static)");
  // bash: the Claude CLI's Bash tool refuses to run without bash or zsh ("No suitable shell found").
  const bins = [realpathSync(busybox), realpathSync("/bin/bash"), ...(opts.claude ? [claudeBinary] : []), ...(opts.gitAndSsh ? ["/usr/bin/git", "/usr/bin/ssh"] : [])];
  const hash = createHash("sha256").update(`plain 3 ${JSON.stringify(opts)}\n`);
  for (const b of bins) hash.update(`${b} ${statSync(b).size}\n`);
  const tag = `${PLAIN_IMAGE_REPO}:${opts.claude ? "claude" : "noclaude"}${opts.gitAndSsh ? "-git" : ""}-${hash.digest("hex").slice(0, 10)}`;
  if (await exists(docker, tag)) return tag;

  const root = mkdtempSync(join(tmpdir(), "loop-plain-rootfs-"));
  try {
    for (const d of ["usr/bin", "usr/lib", "usr/lib64", "usr/local/bin", "etc", "root", "dev", "proc", "sys", "home", "tmp"]) mkdirSync(join(root, d), { recursive: true });
    chmodSync(join(root, "tmp"), 0o1777);
    for (const d of ["bin", "lib", "lib64"]) symlinkSync(`usr/${d}`, join(root, d));
    const libs = new Set<string>();
    for (const b of bins) for (const l of lddDeps(b)) libs.add(l);
    for (const l of libs) place(l, join(root, l.startsWith("/usr/") ? l.slice(1) : `usr${l}`));
    place(bins[0]!, join(root, "usr/bin/busybox"));
    for (const a of execFileSync(bins[0]!, ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean)) {
      const t = join(root, "usr/bin", a);
      if (!existsSync(t)) symlinkSync("busybox", t);
    }
    rmSync(join(root, "usr/bin/bash"), { force: true });
    place(bins[1]!, join(root, "usr/bin/bash"));
    if (opts.claude) place(claudeBinary, join(root, "usr/local/bin/claude"));
    if (opts.gitAndSsh) {
      rmSync(join(root, "usr/bin/ssh"), { force: true });
      place("/usr/bin/git", join(root, "usr/bin/git"));
      place("/usr/bin/ssh", join(root, "usr/bin/ssh"));
    }
    // The image's own idea of its users; the runner mounts its own passwd over it.
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    writeFileSync(join(root, "etc/group"), "root:x:0:\n");
    // As every distribution image has: without it glibc asks DNS before /etc/hosts, slowly.
    writeFileSync(join(root, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
    await importRootfs(docker, root, tag);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const prefix = tag.split("-").slice(0, -1).join("-");
  for (const image of await docker.listImages({ filters: { reference: [PLAIN_IMAGE_REPO] } }))
    for (const t of image.RepoTags ?? []) if (t !== tag && t.startsWith(prefix)) await docker.getImage(t).remove().catch(() => {});
  return tag;
}

async function importRootfs(docker: Docker, root: string, tag: string): Promise<void> {
  const [repo, version] = tag.split(":");
  const tar = spawn("tar", ["--numeric-owner", "-C", root, "-cf", "-", "."], { stdio: ["ignore", "pipe", "inherit"] });
  // No ENTRYPOINT and no USER: nothing of Loop's.
  const progress = await docker.importImage(tar.stdout as any, { repo, tag: version, changes: ["ENV PATH=/usr/local/bin:/usr/bin:/bin", "CMD [\"/bin/sh\"]"] } as any);
  await new Promise((ok, fail) => docker.modem.followProgress(progress as any, (err: Error | null, out: unknown) => (err ? fail(err) : ok(out))));
  if (!(await exists(docker, tag))) throw new Error(`docker import of ${tag} did not produce the image`);
}

async function exists(docker: Docker, tag: string): Promise<boolean> {
  return docker
    .getImage(tag)
    .inspect()
    .then(() => true)
    .catch((err) => (err?.statusCode === 404 ? false : Promise.reject(err)));
}

function lddDeps(bin: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [bin], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    return [];
  }
  return out
    .split("\n")
    .map((line) => (line.match(/=>\s*(\/\S+)/) ?? line.match(/^\s*(\/\S+)\s+\(/))?.[1])
    .filter((x): x is string => Boolean(x));
}

function place(src: string, dest: string): void {
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

export const readText = (p: string) => readFileSync(p, "utf8");
