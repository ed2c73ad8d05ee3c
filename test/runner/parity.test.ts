// Parity with the original Loop on a real runner: an image made without Loop's entrypoint,
// `~` mounts landing in the agent's HOME (git and ssh read them), manual tasks, worktree
// tasks (their own checkout, kept between runs, removed with the task), and the clear
// errors for an image without claude and one that cannot be pulled.
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasToolResult, isMainTurn } from "../fakes/anthropic.ts";
import { AGENT_GID, AGENT_UID } from "../support/agent-image.ts";
import { ensurePlainImage } from "../support/plain-image.ts";
import { agentDir, createRun, docker, makeChannel, registerRunner, runnerConfig, setRules, setupEnv, startTestRunner, waitFor, waitForRun, type Env, type TestRunner } from "./helpers.ts";

let env: Env;
let runner: TestRunner;
let image: string;

/** git as the container's user, as a person would run it in their own project. */
const git = (cwd: string, ...args: string[]) =>
  execFileSync("git", ["-c", "safe.directory=*", ...args], { cwd, encoding: "utf8", uid: AGENT_UID, gid: AGENT_GID, env: { ...process.env, HOME: cwd, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@x", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@x" } }).trim();

/** One Bash call, then a final answer: the tool's output is in the run's events. */
function bashThenDone(command: string) {
  setRules(env, [
    { match: (r) => isMainTurn(r) && !hasToolResult(r), reply: { text: "On it.", toolUses: [{ name: "Bash", input: { command, description: "do it" } }] } },
    { match: isMainTurn, reply: { text: "Done." } },
  ]);
}
const toolOutput = (run: any): string => run.events.find((e: any) => e.type === "tool_result")?.payload.output ?? "";

beforeAll(async () => {
  env = await setupEnv();
  image = await ensurePlainImage({ gitAndSsh: true });
  // The runner user's home is env.base (runnerConfig): a ~/.gitconfig and a ~/.ssh there.
  writeFileSync(join(env.base, ".gitconfig"), "[user]\n\tname = Ada From The Host\n\temail = ada@example.com\n");
  mkdirSync(join(env.base, ".ssh"), { mode: 0o700 });
  writeFileSync(join(env.base, ".ssh/config"), "Host gitbox\n  HostName git.example.com\n  User deploy\n  Port 2222\n", { mode: 0o600 });
  for (const p of [".gitconfig", ".ssh", ".ssh/config"]) chownSync(join(env.base, p), AGENT_UID, AGENT_GID);
  const token = await registerRunner(env);
  runner = await startTestRunner(runnerConfig(env, token, { container_image: image, mounts: ["~/.gitconfig:~/.gitconfig:ro", "~/.ssh:~/.ssh:ro"] }), { worktreeRemovalPollMs: 300 });
}, 300_000);

afterAll(async () => {
  await runner?.stop();
  await env?.close();
});

describe("any image, and ~ in mounts", () => {
  it("an image made with docker import, without Loop's entrypoint, runs a job; git and ssh read the mounted ~/.gitconfig and ~/.ssh", async () => {
    const config = (await docker.getImage(image).inspect()).Config;
    expect(config.Entrypoint ?? null).toBeNull();
    bashThenDone('echo "home=$HOME"; git config user.name; ssh -G gitbox | grep -E "^(user|port|hostname) "');
    const channel = await makeChannel(env, agentDir(env, "home"));
    const run = await waitForRun(env, await createRun(env, channel, "Who am I?"), 110_000);
    expect(run.status, `${run.error}\n${JSON.stringify(run.events.slice(-5))}`).toBe("succeeded");
    expect(run.result_text).toBe("Done.");
    const out = toolOutput(run);
    expect(out).toContain(`home=${env.base}`);
    expect(out).toContain("Ada From The Host");
    expect(out).toMatch(/^user deploy$/m);
    expect(out).toMatch(/^port 2222$/m);
    expect(out).toMatch(/^hostname git\.example\.com$/m);
  });
});

describe("manual and worktree tasks", () => {
  it("a manual task runs only when run now", async () => {
    const channel = await makeChannel(env, agentDir(env, "manual"));
    const task = (await env.api("POST", "/api/tasks", { channel_id: channel, type: "manual", prompt: "Say done" })).body;
    expect(task).toMatchObject({ type: "manual", next_run_at: null });
    expect((await env.api("GET", `/api/runs?task_id=${task.id}`)).body.runs).toEqual([]);
    setRules(env, [{ match: isMainTurn, reply: { text: "Manual done." } }]);
    const started = await env.api("POST", `/api/tasks/${task.id}/run`);
    expect(started.status).toBe(201);
    expect(await waitForRun(env, started.body.id, 110_000)).toMatchObject({ status: "succeeded", task_id: task.id, result_text: "Manual done." });
  });

  it("a worktree task edits its own checkout, the main one stays clean, the next run reuses it, and deleting the task removes it", async () => {
    const dir = agentDir(env, "repo");
    git(dir, "init", "-q", "-b", "main");
    writeFileSync(join(dir, "file.txt"), "original\n");
    chownSync(join(dir, "file.txt"), AGENT_UID, AGENT_GID);
    git(dir, "add", "file.txt");
    git(dir, "commit", "-q", "-m", "first");
    const channel = await makeChannel(env, dir);
    const task = (await env.api("POST", "/api/tasks", { channel_id: channel, type: "manual", prompt: "Change the file", worktree: true })).body;
    const worktree = join(dir, ".loop/worktrees", `task-${task.id}`);

    bashThenDone('echo changed > file.txt && pwd && git rev-parse --abbrev-ref HEAD && git status --porcelain');
    const first = await waitForRun(env, (await env.api("POST", `/api/tasks/${task.id}/run`)).body.id, 110_000);
    expect(first.status, first.error).toBe("succeeded");
    expect(toolOutput(first).split("\n")).toEqual([worktree, `loop/task-${task.id}`, " M file.txt"]);
    expect(readFileSync(join(worktree, "file.txt"), "utf8")).toBe("changed\n");
    expect(readFileSync(join(dir, "file.txt"), "utf8")).toBe("original\n");
    expect(git(dir, "status", "--porcelain")).toBe("");

    bashThenDone("cat file.txt");
    const second = await waitForRun(env, (await env.api("POST", `/api/tasks/${task.id}/run`)).body.id, 110_000);
    expect(second.status, second.error).toBe("succeeded");
    expect(toolOutput(second)).toBe("changed");
    const worktreeLines = runner.lines.filter((l) => /^worktree (created|reused)$/.test(l.msg) && l.fields?.task_id === task.id).map((l) => l.msg);
    expect(worktreeLines).toEqual(["worktree created", "worktree reused"]);

    expect((await env.api("DELETE", `/api/tasks/${task.id}`)).status).toBe(204);
    // The runner logs the removal once git has removed both the worktree and its branch.
    await waitFor("the worktree removed", () => runner.lines.some((l) => l.msg === "worktree of a deleted task removed" && l.fields?.task_id === task.id), 30_000);
    expect(existsSync(worktree)).toBe(false);
    expect(git(dir, "branch", "--list", `loop/task-${task.id}`)).toBe("");
    expect(git(dir, "worktree", "list").split("\n")).toHaveLength(1);
  }, 300_000);

  it("a worktree task in a directory that is not a git repository fails with a clear error", async () => {
    const channel = await makeChannel(env, agentDir(env, "notgit"));
    const task = (await env.api("POST", "/api/tasks", { channel_id: channel, type: "manual", prompt: "x", worktree: true })).body;
    const run = await waitForRun(env, (await env.api("POST", `/api/tasks/${task.id}/run`)).body.id);
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/is not a git repository, and task #\d+ is a worktree task/);
  });
});

describe("images the runner cannot use", () => {
  it("an image without claude stops the runner at start with one error naming the image", async () => {
    const noClaude = await ensurePlainImage({ claude: false });
    const token = await registerRunner(env, "no-claude-runner");
    await expect(startTestRunner(runnerConfig(env, token, { container_image: noClaude }))).rejects.toThrow(new RegExp(`image ${noClaude.replace(/[.:]/g, "\\$&")} has no \`claude\` on its PATH`));
  });

  it("a configured image that is missing is pulled, not built; a failed pull names the image", async () => {
    const token = await registerRunner(env, "pull-runner");
    const missing = "127.0.0.1:9/loop-parity-missing:nowhere";
    await expect(startTestRunner(runnerConfig(env, token, { container_image: missing }))).rejects.toThrow(/could not pull the agent image 127\.0\.0\.1:9\/loop-parity-missing:nowhere/);
  });
});
