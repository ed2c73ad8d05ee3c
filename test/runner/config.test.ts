// Runner configuration: the file format (comments, trailing commas), defaults, errors that
// name the key, `loop onboard`, the per-project merge, mounts, and the container spec built
// from all of it. Pure Node: no Docker, no Worker.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run as onboard } from "../../runner/commands/onboard.ts";
import { readLoopConfig } from "../../runner/api-client.ts";
import { unknownKeysNotice } from "../../runner/config-file.ts";
import { loadConfig, parseConfig, type RunnerConfig } from "../../runner/config.ts";
import { buildContainerSpec, claudeArgs, mcpConfig } from "../../runner/container-spec.ts";
import { memoryLogger } from "../../runner/log.ts";
import { loadProjectConfig, mergeSettings } from "../../runner/project-config.ts";
import { UserError } from "../../runner/user-error.ts";
import { resolveBinds, resolveWorkdir, SetupError, writeRunDir } from "../../runner/workspace.ts";

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "loop-runner-config-"));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const dir = (name: string) => {
  const d = join(tmp, name);
  mkdirSync(d, { recursive: true });
  return d;
};
const minimal = { worker_url: "https://loop.example.com", runner_token: "rt_123", anthropic_api_key: "sk-test" };
const NO_ENV = { env: {}, home: "/home/someone" };

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UserError);
    return (err as Error).message;
  }
  throw new Error("expected an error");
}

describe("config file", () => {
  it("accepts comments and trailing commas, and fills every default", () => {
    const file = join(dir("c1"), "config.json");
    writeFileSync(file, `{
      // the Worker
      "worker_url": "https://loop.example.com/", /* trailing slash is dropped */
      "runner_token": "rt_abc",
      "anthropic_api_key": "sk-ant-1",
      "mounts": ["~/.gitconfig:~/.gitconfig:ro",],
    }`);
    const c = loadConfig(file, NO_ENV);
    expect(c).toMatchObject({
      workerUrl: "https://loop.example.com",
      runnerToken: "rt_abc",
      labels: [],
      image: "loop-agent:latest",
      timeoutSec: 1800,
      memoryMb: 2048,
      cpus: 1,
      pids: 512,
      network: "bridge",
      concurrency: 2,
      mcpServers: {},
      claudeModel: null,
      credentials: [{ name: "ANTHROPIC_API_KEY", value: "sk-ant-1" }],
      anthropicBaseUrl: null,
      stateDir: "/home/someone/.loop/runner",
      shutdownGraceSec: 30,
      logLevel: "info",
      unknownKeys: [],
    });
    expect(c.mounts).toEqual([{ host: "~/.gitconfig", container: "~/.gitconfig", readOnly: true }]);
  });

  it("bad values fail with the key named", () => {
    const bad = (patch: Record<string, unknown>) => errorOf(() => parseConfig({ ...minimal, ...patch }, NO_ENV));
    expect(bad({ container_memory_mb: "lots" })).toMatch(/container_memory_mb: .*number/i);
    expect(bad({ container_cpus: -1 })).toMatch(/container_cpus: /);
    expect(bad({ concurrency: 1.5 })).toMatch(/concurrency: /);
    expect(bad({ mounts: ["just-a-path"] })).toMatch(/mounts\.0: a mount must look like "host_path:container_path"/);
    expect(bad({ mounts: ["/a:/b:rx"] })).toMatch(/mounts\.0: /);
    expect(bad({ worker_url: "ftp://x.example" })).toMatch(/worker_url: must be the Worker's http\(s\) URL/);
    expect(bad({ runner_token: "PASTE-THE-RUNNER-TOKEN-HERE" })).toMatch(/runner_token: still the placeholder/);
    expect(bad({ anthropic_api_key: "two\nlines" })).toMatch(/anthropic_api_key: must be a single line/);
    expect(bad({ mcp: { servers: { db: { args: [] } } } })).toMatch(/mcp\.servers\.db: an MCP server needs either a command/);
    expect(bad({ log_level: "loud" })).toMatch(/log_level: /);
    expect(errorOf(() => parseConfig({ runner_token: "x", anthropic_api_key: "k" }, NO_ENV))).toMatch(/worker_url: /);
  });

  it("a syntax error names the file, line and column", () => {
    const file = join(dir("c2"), "config.json");
    // (A missing comma between lines is not one: HJSON separates members by newlines.)
    writeFileSync(file, '{\n  "worker_url": "https://x.example",\n  "runner_token": }');
    expect(errorOf(() => loadConfig(file, NO_ENV))).toMatch(/config\.json:3:\d+: not valid HJSON\/JSON \(Found a punctuator character '}'/);
  });

  it("reads plain JSON", () => {
    const file = join(dir("c-json"), "config.json");
    writeFileSync(file, JSON.stringify({ ...minimal, labels: ["gpu"], container_cpus: 2.5 }, null, 2));
    expect(loadConfig(file, NO_ENV)).toMatchObject({ workerUrl: "https://loop.example.com", runnerToken: "rt_123", labels: ["gpu"], cpus: 2.5 });
  });

  it("reads HJSON, the original Loop's format: no root braces, unquoted keys and values, no commas, # comments", () => {
    const file = join(dir("c-hjson"), "config.json");
    writeFileSync(
      file,
      [
        "# the Worker",
        "worker_url: https://loop.example.com/",
        "runner_token: rt_hjson",
        "anthropic_api_key: sk-ant-2",
        "labels: [",
        "  gpu",
        "  home",
        "]",
        "container_memory_mb: 4096",
        "mcp: {",
        "  servers: {",
        "    fs: {",
        "      command: npx",
        "      args: [\"-y\", \"@modelcontextprotocol/server-filesystem\"]",
        "    }",
        "  }",
        "}",
      ].join("\n"),
    );
    expect(loadConfig(file, NO_ENV)).toMatchObject({
      workerUrl: "https://loop.example.com",
      runnerToken: "rt_hjson",
      credentials: [{ name: "ANTHROPIC_API_KEY", value: "sk-ant-2" }],
      labels: ["gpu", "home"],
      memoryMb: 4096,
      mcpServers: { fs: { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem"] } },
      unknownKeys: [],
    });
  });

  it("admin_token (for the CLI) is a key of the same file, not an unknown one", () => {
    expect(parseConfig({ ...minimal, admin_token: "loop_api_x" }, NO_ENV).unknownKeys).toEqual([]);
  });

  it("the CLI's API client reads worker_url and admin_token from the same file, in any of the three formats", () => {
    const d = dir("c-cli");
    const formats = {
      json: JSON.stringify({ worker_url: "https://a.example", admin_token: "loop_api_1", concurrency: 3 }),
      jsonc: '{\n  // comment\n  "worker_url": "https://a.example", /* why */\n  "admin_token": "loop_api_1",\n}',
      hjson: "worker_url: https://a.example\nadmin_token: loop_api_1\n# and a comment",
    };
    for (const [name, text] of Object.entries(formats)) {
      const file = join(d, `${name}.json`);
      writeFileSync(file, text);
      expect(readLoopConfig(file), name).toEqual({ worker_url: "https://a.example", admin_token: "loop_api_1" });
    }
    expect(readLoopConfig(join(d, "missing.json"))).toEqual({});
    writeFileSync(join(d, "bad.json"), "worker_url: not a url");
    expect(errorOf(() => readLoopConfig(join(d, "bad.json")))).toMatch(/worker_url: must be the Worker's http\(s\) URL/);
  });

  it("the original Loop's keys are explained one line each; other unknown keys may be typos", () => {
    const c = parseConfig({ ...minimal, poll_interval_sec: 30, discord_token: "x", log_format: "json", wroker_url: "y" }, NO_ENV);
    expect(c.unknownKeys).toEqual(["poll_interval_sec", "log_format", "wroker_url", "discord_token"]);
    const lines = unknownKeysNotice(c.unknownKeys).split("\n");
    expect(lines).toEqual([
      expect.stringMatching(/^config: ignoring poll_interval_sec: not needed: the runner long-polls/),
      expect.stringMatching(/^config: ignoring log_format: not needed: /),
      expect.stringMatching(/^config: ignoring discord_token: not used: discord_gateway is off/),
      "config: ignoring unknown keys wroker_url (typos?)",
    ]);
    // With the relay on, discord_token is read, so it is not reported.
    expect(parseConfig({ ...minimal, discord_gateway: true, discord_token: "x" }, NO_ENV).unknownKeys).toEqual([]);
  });

  it("a missing file says how to create one", () => {
    expect(errorOf(() => loadConfig(join(tmp, "nope.json"), NO_ENV))).toMatch(/run `loop onboard`/);
  });

  it("the credential and base URL may come from the runner's env; the file wins", () => {
    const { anthropic_api_key: _, ...noKey } = minimal;
    expect(errorOf(() => parseConfig(noKey, NO_ENV))).toMatch(/no Anthropic credential/);
    const fromEnv = parseConfig(noKey, { env: { CLAUDE_CODE_OAUTH_TOKEN: "oat-1", ANTHROPIC_BASE_URL: "http://127.0.0.1:9999" }, home: "/h" });
    expect(fromEnv.credentials).toEqual([{ name: "CLAUDE_CODE_OAUTH_TOKEN", value: "oat-1" }]);
    expect(fromEnv.anthropicBaseUrl).toBe("http://127.0.0.1:9999");
    const fileWins = parseConfig(minimal, { env: { ANTHROPIC_API_KEY: "from-env" }, home: "/h" });
    expect(fileWins.credentials).toEqual([{ name: "ANTHROPIC_API_KEY", value: "sk-test" }]);
  });

  it("unknown keys are kept aside (warned about at start), not fatal", () => {
    expect(parseConfig({ ...minimal, discord_tokn: "x", container_memroy_mb: 1 }, NO_ENV).unknownKeys).toEqual(["discord_tokn", "container_memroy_mb"]);
    expect(unknownKeysNotice(["discord_tokn", "container_memroy_mb"])).toBe("config: ignoring unknown keys discord_tokn, container_memroy_mb (typos?)");
  });

  it("the relay's keys keep the original's names: discord_gateway needs discord_token (or DISCORD_BOT_TOKEN); dm_dir is absolute", () => {
    expect(parseConfig(minimal, NO_ENV).discord).toBeNull();
    expect(errorOf(() => parseConfig({ ...minimal, discord_gateway: true }, NO_ENV))).toMatch(/discord_token: discord_gateway is on/);
    const on = parseConfig({ ...minimal, discord_gateway: true, discord_token: "bot-x", dm_dir: "~/dm" }, { env: {}, home: "/h" });
    expect(on.discord).toEqual({ token: "bot-x", apiBase: "https://discord.com/api/v10", dmDir: "/h/dm" });
    expect(parseConfig({ ...minimal, discord_gateway: true }, { env: { DISCORD_BOT_TOKEN: "from-env" }, home: "/h" }).discord?.token).toBe("from-env");
    expect(errorOf(() => parseConfig({ ...minimal, discord_gateway: true, discord_token: "x", dm_dir: "dm" }, NO_ENV))).toMatch(/dm_dir: "dm" must be an absolute path/);
    // A token alone does not switch the relay on.
    expect(parseConfig({ ...minimal, discord_token: "bot-x" }, NO_ENV).discord).toBeNull();
  });
});

describe("loop onboard", () => {
  it("writes ~/.loop/config.json under $HOME from the commented example, refuses to clobber, --force replaces", async () => {
    const home = dir("home");
    const saved = process.env.HOME;
    process.env.HOME = home;
    const log = console.log;
    console.log = () => {};
    try {
      const target = join(home, ".loop", "config.json");
      expect(await onboard([])).toBe(0);
      const text = readFileSync(target, "utf8");
      expect(text).toContain("// Loop runner configuration");
      expect(statSync(target).mode & 0o777).toBe(0o600);
      // The example is valid except for the placeholder token, which is named.
      expect(errorOf(() => loadConfig(target, { env: { ANTHROPIC_API_KEY: "k" }, home }))).toMatch(/runner_token: still the placeholder/);
      const filled = text.replace("PASTE-THE-RUNNER-TOKEN-HERE", "rt_real");
      writeFileSync(target, filled);
      expect(loadConfig(target, { env: { ANTHROPIC_API_KEY: "k" }, home }).runnerToken).toBe("rt_real");

      await expect(onboard([])).rejects.toThrow(/already exists.*--force/);
      expect(readFileSync(target, "utf8")).toBe(filled);
      expect(await onboard(["--force"])).toBe(0);
      expect(readFileSync(target, "utf8")).toBe(text);
    } finally {
      process.env.HOME = saved;
      console.log = log;
    }
  });
});

describe("per-project .loop/config.json", () => {
  const config = (): RunnerConfig =>
    parseConfig(
      {
        ...minimal,
        mounts: ["/etc/hostname:/etc/host-name:ro"],
        mcp: { servers: { shared: { command: "a" }, db: { command: "global-db" } } },
        claude_model: "global-model",
        container_memory_mb: 1024,
      },
      { env: {}, home: tmp, file: join(tmp, "config.json") },
    );

  it("appends mounts (relative to the project), merges MCP servers (project wins), overrides the model; nothing else", () => {
    const project = dir("proj1");
    mkdirSync(join(project, ".loop"));
    mkdirSync(join(project, "data"));
    writeFileSync(
      join(project, ".loop/config.json"),
      `{
        // project overrides
        "mounts": ["./data:/app/data", "./missing:/app/missing:ro"],
        "mcp": { "servers": { "db": { "command": "project-db" }, "extra": { "type": "http", "url": "http://127.0.0.1:1/mcp" } } },
        "claude_model": "project-model",
        "container_memory_mb": 99999,
        "anthropic_api_key": "sneaky",
      }`,
    );
    const p = loadProjectConfig(project)!;
    expect(p.ignoredKeys).toEqual(["container_memory_mb", "anthropic_api_key"]);
    const s = mergeSettings(config(), p, project, null);
    expect(s.model).toBe("project-model");
    expect(s.mcpServers).toEqual({ shared: { command: "a" }, db: { command: "project-db" }, extra: { type: "http", url: "http://127.0.0.1:1/mcp" } });
    expect(mergeSettings(config(), p, project, "job-model").model).toBe("job-model");

    const log = memoryLogger();
    const { binds } = resolveBinds(s.mounts, [project], tmp, log, {});
    expect(binds).toEqual(["/etc/hostname:/etc/host-name:ro", `${join(project, "data")}:/app/data`]);
    expect(log.lines).toContainEqual(expect.objectContaining({ msg: "mount skipped: host path does not exist", fields: expect.objectContaining({ host_path: join(project, "missing") }) }));
  });

  it("no project file: the runner's settings as they are", () => {
    const s = mergeSettings(config(), loadProjectConfig(dir("proj2")), dir("proj2"), null);
    expect(s.model).toBe("global-model");
    expect(Object.keys(s.mcpServers)).toEqual(["shared", "db"]);
  });

  it("a bad project file fails with the file and key named", () => {
    const project = dir("proj3");
    mkdirSync(join(project, ".loop"));
    writeFileSync(join(project, ".loop/config.json"), '{"mounts": "not-a-list"}');
    expect(errorOf(() => loadProjectConfig(project))).toMatch(/proj3\/\.loop\/config\.json is not valid:\n  mounts: /);
  });
});

describe("mounts and workdir", () => {
  let sock: Server;
  let sockPath: string;
  beforeAll(async () => {
    sockPath = join(dir("sock"), "docker.sock");
    sock = createServer();
    await new Promise<void>((r) => sock.listen(sockPath, r));
  });
  afterAll(() => new Promise<void>((r) => sock.close(() => r())));

  it("~ expands on both sides; duplicates of a mounted path are dropped; a docker.sock mount brings its group", () => {
    const home = dir("h2");
    mkdirSync(join(home, ".ssh"));
    const log = memoryLogger();
    const { binds, groupAdd } = resolveBinds(
      [
        { host: "~/.ssh", container: "~/.ssh", readOnly: true, baseDir: "/", from: "runner" },
        { host: "/tmp", container: "/work/x", readOnly: false, baseDir: "/", from: "runner" },
        { host: sockPath, container: "/var/run/docker.sock", readOnly: false, baseDir: "/", from: "project" },
      ],
      ["/work/x"],
      home,
      log,
    {});
    expect(binds).toEqual([`${home}/.ssh:${home}/.ssh:ro`, `${sockPath}:/var/run/docker.sock`]);
    expect(groupAdd).toEqual([String(statSync(sockPath).gid)]);
    expect(log.lines.map((l) => l.msg)).toContain("mount skipped: container path already mounted");
  });

  it("the workdir must exist, be absolute, not be /, and sit inside workdir_roots when set", () => {
    const id = { uid: process.getuid!(), gid: process.getgid!() };
    const real = dir("ws/project");
    const cfg = { stateDir: dir("state"), workdirRoots: [] as string[] };
    expect(resolveWorkdir(cfg, { workdir: real, channel_id: "c" }, id)).toBe(real);
    expect(() => resolveWorkdir(cfg, { workdir: join(tmp, "absent"), channel_id: "c" }, id)).toThrow(SetupError);
    expect(() => resolveWorkdir(cfg, { workdir: join(tmp, "absent"), channel_id: "c" }, id)).toThrow(/does not exist on this runner host/);
    expect(() => resolveWorkdir(cfg, { workdir: "relative/dir", channel_id: "c" }, id)).toThrow(/not an absolute path/);
    expect(() => resolveWorkdir(cfg, { workdir: "/", channel_id: "c" }, id)).toThrow(/refusing to mount "\/"/);
    const rooted = { ...cfg, workdirRoots: [join(tmp, "ws")] };
    expect(resolveWorkdir(rooted, { workdir: real, channel_id: "c" }, id)).toBe(real);
    expect(() => resolveWorkdir(rooted, { workdir: dir("elsewhere"), channel_id: "c" }, id)).toThrow(/outside workdir_roots/);
    // A channel without a directory gets one under the state dir.
    expect(resolveWorkdir(cfg, { workdir: null, channel_id: "ch_1" }, id)).toBe(join(cfg.stateDir, "channels/ch_1/work"));
    expect(resolveWorkdir(cfg, { workdir: null, channel_id: "../escape" }, id)).toMatch(new RegExp(`^${cfg.stateDir}/channels/[0-9a-f]{24}/work$`));
  });
});

describe("container spec", () => {
  const cfg = parseConfig({ ...minimal, anthropic_base_url: "http://127.0.0.1:1234", container_memory_mb: 768, container_cpus: 1.5, container_pids: 200, container_network: "host" }, NO_ENV);
  const job = { run_id: 42, channel_id: "ch_9", attempt: 1, lease_id: "lease_abc", mcp: { url: "http://w/mcp", token: "run_secret" } };
  const spec = buildContainerSpec({ config: cfg, job, runnerKey: "abc123", place: { workdir: "/p", binds: [], groupAdd: [], user: "1000:1000", home: null }, claudeDir: "/s/claude", runDir: "/s/runs/42", model: "m1", resume: "sess-1" });

  it("runs claude --print with stream-json, the model, --resume, the MCP config with '=', and skipped permissions", () => {
    expect(spec.cmd).toEqual(["--print", "--output-format", "stream-json", "--verbose", "--model", "m1", "--resume", "sess-1", "--mcp-config=/run/loop/mcp.json", "--dangerously-skip-permissions"]);
    expect(claudeArgs({ model: null, resume: null })).not.toContain("--resume");
  });

  it("carries limits, labels (run and lease, for recovery after a crash), a name from the run id, and no secret in its env", () => {
    expect(spec).toMatchObject({ name: "loop-abc123-run-42", memoryBytes: 768 * 1024 * 1024, nanoCpus: 1_500_000_000, pidsLimit: 200, network: "host", user: "1000:1000", workingDir: "/p" });
    expect(spec.labels).toEqual({ "loop.runner": "abc123", "loop.run": "42", "loop.channel": "ch_9", "loop.attempt": "1", "loop.lease": "lease_abc" });
    expect(spec.binds).toEqual(["/p:/p", "/s/claude:/s/claude", "/s/runs/42:/run/loop:ro"]);
    expect(spec.env).toContain("CLAUDE_CONFIG_DIR=/s/claude");
    expect(spec.env).toContain("ANTHROPIC_BASE_URL=http://127.0.0.1:1234");
    expect(spec.env).toContain("ENABLE_TOOL_SEARCH=false");
    expect(spec.env).toContain("LOOP_PROMPT_ON_STDIN=1");
    const everything = JSON.stringify(spec);
    expect(everything).not.toContain("sk-test");
    expect(everything).not.toContain("run_secret");
    expect(everything).not.toContain("docker.sock");
  });

  it("the MCP config names the Worker's server 'loop' with the run token; it wins over a configured 'loop'", () => {
    expect(mcpConfig(job, { loop: { command: "evil" }, db: { command: "x" } })).toEqual({
      mcpServers: { db: { command: "x" }, loop: { type: "http", url: "http://w/mcp", headers: { Authorization: "Bearer run_secret" } } },
    });
  });

  it("writes the MCP config into a private run dir (0700 dir, 0600 file)", () => {
    const id = { uid: process.getuid!(), gid: process.getgid!() };
    const runDir = writeRunDir(dir("state2"), { run_id: 7, lease_id: "lease_abcdef123456", mcp: job.mcp }, {}, id);
    expect(statSync(runDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(runDir, "mcp.json")).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(join(runDir, "mcp.json"), "utf8")).mcpServers.loop.headers.Authorization).toBe("Bearer run_secret");
  });
});
