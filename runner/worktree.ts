/**
 * Worktree tasks (the original's `worktree: true`): the run works in the task's own git
 * worktree, <project>/.loop/worktrees/task-<id> on branch loop/task-<id>, instead of the
 * project directory. Created on the task's first run from origin_branch (default: the
 * directory's HEAD branch), kept for the next run, removed when the Worker says the task is
 * gone (worktree-removals.ts). Git runs on the host as the container's user, so the files
 * it makes belong to whoever the agent runs as.
 *
 * The container gets the worktree and the repository's git directory, both at their real
 * paths: a worktree's `.git` is a file naming <repo>/.git/worktrees/task-<id>, and commits
 * the agent makes land in the repository's objects.
 */
import { execFile } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { isAbsolute, join, relative, resolve } from "node:path";
import type { Job } from "../protocol/runner.ts";
import type { Identity } from "./workspace.ts";
import { SetupError } from "./workspace.ts";

export const WORKTREES_DIR = ".loop/worktrees";
/** git fetch over a slow network; a clone-sized fetch belongs in a setup step, not here. */
const GIT_TIMEOUT_MS = 120_000;

export const worktreeName = (taskId: number): string => `task-${taskId}`;
export const worktreeBranch = (taskId: number): string => `loop/task-${taskId}`;

export interface GitResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export interface GitRunner {
  (cwd: string, args: string[]): Promise<GitResult>;
}

/**
 * Runs git on the host. As root it runs as the container's user, so the worktree and its
 * admin files are theirs; `safe.directory` because that user may not own every parent.
 */
export function hostGit(id: Identity | null): GitRunner {
  return (cwd, args) =>
    new Promise((done) => {
      execFile(
        "git",
        ["-c", "safe.directory=*", ...args],
        {
          cwd,
          timeout: GIT_TIMEOUT_MS,
          maxBuffer: 4 * 1024 * 1024,
          env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
          ...(id && process.getuid?.() === 0 ? { uid: id.uid, gid: id.gid } : {}),
        },
        (err, stdout, stderr) => done({ ok: !err, stdout: String(stdout).trim(), stderr: String(stderr).trim() || (err ? err.message : "") }),
      );
    });
}

export interface PreparedWorktree {
  /** Where the container works: the worktree, or the project's subdirectory inside it. */
  workdir: string;
  /** Mounted instead of the project directory. */
  worktree: string;
  /** The repository's git directory, mounted too (the worktree's .git points into it). */
  gitCommonDir: string;
  created: boolean;
  /** Things the run's watchers should hear about (an update that could not fast-forward). */
  notices: string[];
}

const firstLine = (s: string) => s.split("\n").find((l) => l.trim()) ?? s;

/** Finds or makes the task's worktree; updates it first with update_before_run. */
export async function prepareWorktree(projectDir: string, wt: NonNullable<Job["worktree"]>, git: GitRunner): Promise<PreparedWorktree> {
  const top = await git(projectDir, ["rev-parse", "--show-toplevel"]);
  if (!top.ok) {
    throw new SetupError(`${projectDir} is not a git repository, and task #${wt.task_id} is a worktree task: run \`git init\` there, or set worktree to false (${firstLine(top.stderr)})`);
  }
  const common = await git(projectDir, ["rev-parse", "--path-format=absolute", "--git-common-dir"]);
  if (!common.ok) throw new SetupError(`cannot find the git directory of ${projectDir}: ${firstLine(common.stderr)}`);
  const toplevel = top.stdout;
  const gitCommonDir = common.stdout;
  const worktree = join(projectDir, WORKTREES_DIR, worktreeName(wt.task_id));
  const sub = relative(toplevel, projectDir);
  const workdirIn = (root: string) => (sub && !sub.startsWith("..") && !isAbsolute(sub) ? join(root, sub) : root);
  const notices: string[] = [];

  excludeWorktrees(gitCommonDir, projectDir, toplevel);
  let created = false;
  if (!(await isWorktree(git, worktree))) {
    // A directory left without its registration (or a registration without its directory).
    await git(toplevel, ["worktree", "prune"]);
    if (existsSync(worktree)) rmSync(worktree, { recursive: true, force: true });
    // git makes .loop/worktrees itself, as the container's user: a root mkdir would lock them out.
    const branch = worktreeBranch(wt.task_id);
    const hasBranch = (await git(toplevel, ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`])).ok;
    const args = hasBranch ? ["worktree", "add", worktree, branch] : ["worktree", "add", "-b", branch, worktree, await baseRef(git, toplevel, wt.origin_branch)];
    const add = await git(toplevel, args);
    if (!add.ok) throw new SetupError(`could not create the worktree ${worktree}: ${firstLine(add.stderr)}`);
    created = true;
  }

  if (wt.update_before_run) {
    const target = wt.origin_branch ?? (await currentBranch(git, toplevel));
    if (!target) notices.push("update_before_run: the directory is on a detached HEAD and the task names no origin_branch; nothing to update from");
    else if (!(await git(worktree, ["remote", "get-url", "origin"])).ok) notices.push(`update_before_run: the repository has no remote "origin"; the worktree was not updated`);
    else {
      const fetch = await git(worktree, ["fetch", "origin", target]);
      if (!fetch.ok) notices.push(`update_before_run: git fetch origin ${target} failed: ${firstLine(fetch.stderr)}`);
      else {
        const ff = await git(worktree, ["merge", "--ff-only", "FETCH_HEAD"]);
        if (!ff.ok) notices.push(`update_before_run: could not fast-forward the worktree to origin/${target} (it has its own commits or changes); left as it was`);
      }
    }
  }
  return { workdir: workdirIn(worktree), worktree, gitCommonDir, created, notices };
}

async function isWorktree(git: GitRunner, path: string): Promise<boolean> {
  if (!existsSync(join(path, ".git"))) return false;
  const r = await git(path, ["rev-parse", "--show-toplevel"]);
  return r.ok && resolve(r.stdout) === resolve(path);
}

async function currentBranch(git: GitRunner, dir: string): Promise<string | null> {
  const r = await git(dir, ["symbolic-ref", "--quiet", "--short", "HEAD"]);
  return r.ok && r.stdout ? r.stdout : null;
}

/** origin_branch as a local branch, else as origin/<branch>; by default the directory's HEAD. */
async function baseRef(git: GitRunner, dir: string, originBranch: string | null): Promise<string> {
  if (!originBranch) return (await currentBranch(git, dir)) ?? "HEAD";
  for (const ref of [`refs/heads/${originBranch}`, `refs/remotes/origin/${originBranch}`])
    if ((await git(dir, ["rev-parse", "--verify", "--quiet", ref])).ok) return ref;
  throw new SetupError(`origin_branch ${originBranch} is neither a branch of the repository nor of its origin remote`);
}

/** .loop/worktrees/ in the repository's own info/exclude, so the main checkout stays clean. */
function excludeWorktrees(gitCommonDir: string, projectDir: string, toplevel: string): void {
  const rel = relative(toplevel, join(projectDir, WORKTREES_DIR));
  const line = `/${rel.split("\\").join("/")}/`;
  const file = join(gitCommonDir, "info", "exclude");
  const current = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (current.split("\n").includes(line)) return;
  mkdirSync(join(gitCommonDir, "info"), { recursive: true });
  appendFileSync(file, `${current && !current.endsWith("\n") ? "\n" : ""}# Loop: worktrees of worktree tasks\n${line}\n`);
}

/**
 * Removes a deleted task's worktree and its branch. Already gone is fine; a project that is
 * no longer a repository only loses the directory.
 */
export async function removeWorktree(projectDir: string, taskId: number, git: GitRunner): Promise<"removed" | "absent"> {
  const worktree = join(projectDir, WORKTREES_DIR, worktreeName(taskId));
  const existed = existsSync(worktree);
  if (existsSync(projectDir)) {
    const top = await git(projectDir, ["rev-parse", "--show-toplevel"]);
    if (top.ok) {
      if (existed) await git(top.stdout, ["worktree", "remove", "--force", worktree]);
      await git(top.stdout, ["worktree", "prune"]);
      await git(top.stdout, ["branch", "-D", worktreeBranch(taskId)]);
    }
  }
  rmSync(worktree, { recursive: true, force: true });
  return existed ? "removed" : "absent";
}
