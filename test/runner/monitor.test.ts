// A loop's monitor command on the runner (docs/loops.md): its container's shape (pure), and
// runMonitor against the real Docker engine with the test agent image: output of both
// streams, the exit code, and a command killed at its timeout. The whole loop, monitor
// included, runs end to end in test/e2e/loops.test.ts.
import { mkdtempSync, rmSync, chownSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../runner/config.ts";
import { buildContainerSpec, buildMonitorSpec, claudeArgs } from "../../runner/container-spec.ts";
import { dockerodeDriver } from "../../runner/docker.ts";
import { memoryLogger } from "../../runner/log.ts";
import { runMonitor } from "../../runner/monitor.ts";
import { AGENT_GID, AGENT_UID, ensureTestAgentImage } from "../support/agent-image.ts";
import { containersOf } from "./helpers.ts";

const config = parseConfig({ worker_url: "http://127.0.0.1:1", runner_token: "loop_runner_x", anthropic_api_key: "k", container_network: "none", container_memory_mb: 256 }, { env: {}, home: "/tmp" });
const job = { run_id: 987_654, channel_id: "ch_mon", attempt: 1, lease_id: "lease_mon" };

describe("the monitor container", () => {
  const spec = buildMonitorSpec({ config, job, runnerKey: "k1", command: "tail -n 5 app.log", place: { workdir: "/p", binds: ["/data:/data:ro"], groupAdd: [], user: "1000:1000", home: null } });

  it("runs the command under /bin/sh -c in the project, with its mounts but no Claude state, run token or credential", () => {
    expect(spec).toMatchObject({ name: "loop-k1-run-987654-monitor", entrypoint: ["/bin/sh", "-c"], cmd: ["tail -n 5 app.log"], workingDir: "/p", network: "none", user: "1000:1000" });
    expect(spec.binds).toEqual(["/p:/p", "/data:/data:ro"]);
    expect(spec.env.join("\n")).not.toMatch(/ANTHROPIC|CLAUDE|TOKEN|KEY/);
    expect(spec.labels).toMatchObject({ "loop.run": "987654", "loop.lease": "lease_mon", "loop.role": "monitor", "loop.runner": "k1" });
  });

  it("sees the place the agent's container sees: a worktree's mounts, HOME backed by the channel's dir, the passwd naming it, the extra binds, user and limits", () => {
    const place = {
      workdir: "/r/.loop/worktrees/task-3/sub",
      projectMounts: ["/r/.loop/worktrees/task-3", "/r/.git"],
      binds: ["/h/.gitconfig:/h/.gitconfig:ro"],
      groupAdd: ["999"],
      user: "1000:1000",
      home: "/h",
      homeDir: "/s/channels/ch_mon/home",
      passwdFile: "/s/runs/1/passwd",
    };
    const monitor = buildMonitorSpec({ config, job, runnerKey: "k1", command: "true", place });
    const agent = buildContainerSpec({ config, job, runnerKey: "k1", place, claudeDir: "/s/claude", runDir: "/s/runs/1", entrypointFile: "/pkg/entrypoint.sh", model: null, resume: null });
    expect(monitor.binds).toEqual(["/r/.loop/worktrees/task-3:/r/.loop/worktrees/task-3", "/r/.git:/r/.git", "/s/channels/ch_mon/home:/h", "/s/runs/1/passwd:/etc/passwd:ro", "/h/.gitconfig:/h/.gitconfig:ro"]);
    // The agent's adds only its own: the entrypoint, Claude's state and the private run dir.
    expect(agent.binds).toEqual([...monitor.binds, "/pkg/entrypoint.sh:/run/loop-entrypoint.sh:ro", "/s/claude:/s/claude", "/s/runs/1:/run/loop:ro"]);
    const shared = ({ image, workingDir, user, groupAdd, memoryBytes, nanoCpus, pidsLimit, network }: typeof agent) => ({ image, workingDir, user, groupAdd, memoryBytes, nanoCpus, pidsLimit, network });
    expect(shared(monitor)).toEqual(shared(agent));
    for (const spec of [monitor, agent]) expect(spec.env).toEqual(expect.arrayContaining(["LOOP_RUN_ID=987654", "LOOP_CHANNEL_ID=ch_mon", "HOME=/h"]));
    expect(agent.entrypoint).toEqual(["/bin/sh", "/run/loop-entrypoint.sh"]);
    expect(monitor.entrypoint).toEqual(["/bin/sh", "-c"]);
  });

  it("passes a loop's system prompt to claude as one --append-system-prompt= argument", () => {
    expect(claudeArgs({ model: null, resume: null, appendSystemPrompt: "-be terse\nalways" })).toContain("--append-system-prompt=-be terse\nalways");
    expect(claudeArgs({ model: null, resume: null, appendSystemPrompt: null }).join(" ")).not.toContain("append-system-prompt");
  });
});

describe("runMonitor on Docker", () => {
  let image: string;
  let dir: string;
  beforeAll(async () => {
    image = await ensureTestAgentImage();
    dir = mkdtempSync(join(tmpdir(), "loop-monitor-"));
    chownSync(dir, AGENT_UID, AGENT_GID);
  }, 300_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const specFor = (command: string, runId: number) =>
    buildMonitorSpec({ config: { ...config, image }, job: { ...job, run_id: runId }, runnerKey: "montest", command, place: { workdir: dir, binds: [], groupAdd: [], user: `${AGENT_UID}:${AGENT_GID}`, home: null } });

  it("keeps stdout and stderr and the exit code, and removes the container", async () => {
    const log = memoryLogger();
    const result = await runMonitor(dockerodeDriver(), specFor("echo out-line; echo err-line >&2; pwd; exit 3", 910_001), 30, new AbortController().signal, log);
    expect(result.exitCode).toBe(3);
    expect(result.output).toContain("out-line");
    expect(result.output).toContain("err-line");
    expect(result.output).toContain(dir);
    expect(await containersOf(910_001)).toEqual([]);
  });

  it("kills a command that outlives its timeout and reports no exit code", async () => {
    const result = await runMonitor(dockerodeDriver(), specFor("echo started; sleep 60", 910_002), 1, new AbortController().signal, memoryLogger());
    expect(result.exitCode).toBeNull();
    expect(result.output).toContain("started");
    expect(result.output).toContain("loop: the monitor command was killed after 1 s");
    expect(await containersOf(910_002)).toEqual([]);
  });
});
