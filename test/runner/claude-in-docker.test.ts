// The real Claude Code CLI in a real container, against a fake Anthropic API.
//
// Needs a Docker daemon (scripts/ensure-docker.sh) and root on the host (the
// per-test dirs are chowned to the container user, uid 1000). Containers use
// the host network and talk only to 127.0.0.1 (the fake and a tiny MCP server).
//
// LOOP_CAPTURE_FIXTURES=1 also writes the captured stream-json outputs, with
// temp paths replaced, to test/fixtures/stream-json/.

import Docker from "dockerode";
import { createMcpHandler, McpServer } from "@modelcontextprotocol/server";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { PassThrough } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  conversationText,
  hasToolResult,
  isMainTurn,
  lastUserText,
  startFakeAnthropic,
  type FakeAnthropic,
  type RecordedRequest,
  type Rule,
} from "../fakes/anthropic.ts";
import { AGENT_GID, AGENT_UID, ensureTestAgentImage } from "../support/agent-image.ts";

const docker = new Docker();
const API_KEY = "loop-test-anthropic-key-do-not-leak";
const CLAUDE_FLAGS = ["--print", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"];
const fixturesDir = resolve(import.meta.dirname, "../fixtures/stream-json");
const capture = process.env.LOOP_CAPTURE_FIXTURES === "1";

let image: string;
let base: string;

beforeAll(async () => {
  await docker.ping().catch((err) => {
    throw new Error(`no Docker daemon (${err.message}): run scripts/ensure-docker.sh`);
  });
  const t0 = Date.now();
  image = await ensureTestAgentImage({ log: (m) => console.log(`[agent-image] ${m}`) });
  console.log(`[agent-image] ${image} ready in ${Date.now() - t0} ms`);
  base = mkdtempSync(join(tmpdir(), "loop-claude-docker-"));
  chownSync(base, AGENT_UID, AGENT_GID);
}, 300_000);

afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

// ---------- helpers ----------

/** A fresh dir owned by the container user, mounted into containers at the same path. */
function agentDir(name: string): string {
  const dir = mkdtempSync(join(base, `${name}-`));
  chownSync(dir, AGENT_UID, AGENT_GID);
  return dir;
}

interface RunOptions {
  fake: FakeAnthropic;
  args: string[];
  workdir: string;
  configDir: string;
  /** Written to the container's stdin; default: the API key line then an empty line. */
  stdin?: string;
  env?: string[];
  /** Called once the container has started (e.g. to send it a signal later). */
  onStarted?: (container: Docker.Container) => void;
}

interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  events: any[];
  inspect: Docker.ContainerInspectInfo;
  ms: number;
}

/** docker create + attach (stdin, stdout, stderr) + start + write stdin + wait + inspect + rm. */
async function runClaude(o: RunOptions): Promise<RunResult> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: o.args,
    Env: [`ANTHROPIC_BASE_URL=${o.fake.url}`, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", `CLAUDE_CONFIG_DIR=${o.configDir}`, ...(o.env ?? [])],
    WorkingDir: o.workdir,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: { NetworkMode: "host", Binds: [`${o.workdir}:${o.workdir}`, `${o.configDir}:${o.configDir}`] },
  });
  try {
    const stream: any = await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = "";
    let stderr = "";
    out.on("data", (d) => (stdout += d));
    err.on("data", (d) => (stderr += d));
    container.modem.demuxStream(stream, out, err);
    const ended = new Promise((r) => stream.on("end", r));
    const t0 = Date.now();
    await container.start();
    stream.write(o.stdin ?? `ANTHROPIC_API_KEY=${API_KEY}\n\n`);
    stream.end(); // half-close: with StdinOnce the container's stdin reaches EOF
    o.onStarted?.(container);
    const { StatusCode } = await container.wait();
    await ended;
    const ms = Date.now() - t0;
    const inspect = await container.inspect();
    const events = stdout
      .split("\n")
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l));
    return { exitCode: StatusCode, stdout, stderr, events, inspect, ms };
  } finally {
    await container.remove({ force: true });
  }
}

/** The agent's own API calls (those offering tools), in order; throws if fewer than `n`. */
function mainTurns(fake: FakeAnthropic, n = 1): RecordedRequest[] {
  const turns = fake.messageRequests().filter(isMainTurn);
  if (turns.length < n) throw new Error(`expected at least ${n} main API calls, got ${turns.length}`);
  return turns;
}
const at = <T>(xs: T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
};

const resultOf = (r: RunResult) => r.events.find((e) => e.type === "result");
const initOf = (r: RunResult) => r.events.find((e) => e.type === "system" && e.subtype === "init");

function saveFixture(name: string, r: RunResult, dirs: { workdir: string; configDir: string }) {
  if (!capture) return;
  const replacements: Array<[string, string]> = [
    [dirs.workdir, "/work/project"],
    [dirs.workdir.replace(/[^a-zA-Z0-9]/g, "-"), "-work-project"], // as a project key under CLAUDE_CONFIG_DIR/projects
    [dirs.configDir, "/work/claude-config"],
  ];
  let text = r.stdout;
  for (const [from, to] of replacements) text = text.split(from).join(to);
  expect(text).not.toContain(API_KEY);
  expect(text).not.toContain(base);
  mkdirSync(fixturesDir, { recursive: true });
  writeFileSync(join(fixturesDir, name), text);
}

/**
 * A tiny MCP server (Streamable HTTP, stateless, both protocol eras, as Loop's) offering
 * `schedule_task`, on 127.0.0.1.
 */
async function startMcp() {
  const calls: Array<{ cron: string; prompt: string }> = [];
  const rpc: Array<{ method: string; auth?: string }> = [];
  const handler = createMcpHandler(() => {
    const server = new McpServer({ name: "loop", version: "0.0.0" }, { capabilities: { tools: { listChanged: false } } });
    server.registerTool(
      "schedule_task",
      { description: "Schedule a recurring task", inputSchema: z.object({ cron: z.string(), prompt: z.string() }) },
      async (args) => {
        calls.push(args);
        return { content: [{ type: "text", text: `scheduled "${args.prompt}" at ${args.cron}` }] };
      },
    );
    return server;
  });
  const http = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString();
    const body = raw ? JSON.parse(raw) : undefined;
    for (const m of [body].flat()) rpc.push({ method: m?.method ?? `${req.method} (no body)`, auth: req.headers.authorization });
    if (req.url !== "/mcp") return void res.writeHead(404).end();
    const headers = new Headers(Object.entries(req.headers).flatMap(([k, v]) => (typeof v === "string" ? [[k, v] as [string, string]] : [])));
    const answer = await handler.fetch(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, ...(raw ? { body: raw } : {}) }));
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    calls,
    rpc,
    close: () => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))),
  };
}

async function withFake<T>(rules: Rule[], fn: (fake: FakeAnthropic) => Promise<T>): Promise<T> {
  const fake = await startFakeAnthropic({ rules });
  try {
    return await fn(fake);
  } finally {
    await fake.close();
  }
}

// ---------- tests ----------

describe("claude --print in the agent container", () => {
  it("(a) answers with text: result event carries the text and usage", async () => {
    await withFake([{ match: isMainTurn, reply: { text: "Hello from the fake model.", usage: { input_tokens: 42, output_tokens: 7 } } }], async (fake) => {
      const workdir = agentDir("work");
      const configDir = agentDir("config");
      const r = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, "Say hello"] });
      console.log(`(a) container ran ${r.ms} ms`);
      expect(r.exitCode, r.stderr).toBe(0);

      const init = initOf(r);
      expect(init).toMatchObject({ type: "system", subtype: "init", cwd: workdir, permissionMode: "bypassPermissions", apiKeySource: "ANTHROPIC_API_KEY" });
      expect(init.session_id).toMatch(/^[0-9a-f-]{36}$/);

      const assistant = r.events.find((e) => e.type === "assistant");
      expect(assistant.message.content).toEqual([{ type: "text", text: "Hello from the fake model." }]);

      const result = resultOf(r);
      expect(result).toMatchObject({
        type: "result",
        subtype: "success",
        is_error: false,
        result: "Hello from the fake model.",
        session_id: init.session_id,
        num_turns: 1,
        usage: { input_tokens: 42, output_tokens: 7 },
      });
      expect(result.total_cost_usd).toBeGreaterThan(0);
      expect(r.events.at(-1)).toBe(result);

      // With CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 this is the only endpoint the CLI calls.
      expect(fake.requests.map((q) => `${q.method} ${q.path}`)).toEqual(["POST /v1/messages?beta=true"]);
      const main = fake.messageRequests().filter(isMainTurn);
      expect(main).toHaveLength(1);
      expect(at(main, 0).stream).toBe(true);
      expect(lastUserText(at(main, 0))).toContain("Say hello");
      saveFixture("text.jsonl", r, { workdir, configDir });
    });
  }, 120_000);

  it("(b) runs a Bash tool_use that writes into the bind-mounted workdir", async () => {
    const workdir = agentDir("work");
    const configDir = agentDir("config");
    const target = join(workdir, "notes", "out.txt");
    const rules: Rule[] = [
      {
        match: (r) => isMainTurn(r) && !hasToolResult(r),
        reply: {
          text: "Writing the file.",
          toolUses: [{ name: "Bash", input: { command: `mkdir -p ${workdir}/notes && echo "written by claude" > ${target} && id -u`, description: "Write a file" } }],
        },
      },
      { match: isMainTurn, reply: { text: "The file is written." } },
    ];
    await withFake(rules, async (fake) => {
      const r = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, "Write the file"] });
      console.log(`(b) container ran ${r.ms} ms`);
      expect(r.exitCode, r.stderr).toBe(0);

      expect(existsSync(target)).toBe(true);
      expect(readFileSync(target, "utf8")).toBe("written by claude\n");

      const toolUse = r.events.find((e) => e.type === "assistant" && e.message.content.some((b: any) => b.type === "tool_use"));
      expect(toolUse.message.content[0]).toMatchObject({ type: "tool_use", name: "Bash", input: { command: expect.stringContaining(target) } });
      const toolResult = r.events.find((e) => e.type === "user");
      expect(toolResult.message.content[0]).toMatchObject({
        type: "tool_result",
        tool_use_id: toolUse.message.content[0].id,
        content: "1000", // the container user, not root
        is_error: false,
      });
      expect(resultOf(r)).toMatchObject({ subtype: "success", is_error: false, result: "The file is written.", num_turns: 2 });

      // The second API call carried the tool result back to the model.
      const main = fake.messageRequests().filter(isMainTurn);
      expect(main).toHaveLength(2);
      expect(hasToolResult(at(main, 1))).toBe(true);
      saveFixture("tool-use.jsonl", r, { workdir, configDir });
    });
  }, 120_000);

  it("(c) resumes a session in a second container with the same CLAUDE_CONFIG_DIR", async () => {
    const workdir = agentDir("work");
    const configDir = agentDir("config");
    const rules: Rule[] = [
      // The second reply tells whether the model can see the secret word in the resumed conversation.
      {
        match: (r) => isMainTurn(r) && lastUserText(r).includes("What was the word"),
        reply: (r) => ({ text: conversationText(r).includes("PINEAPPLE") ? "The word was PINEAPPLE." : "I do not know." }),
      },
      { match: isMainTurn, reply: { text: "Noted, I will remember it." } },
    ];

    await withFake(rules, async (fake) => {
      const first = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, "Remember the word PINEAPPLE"] });
      expect(first.exitCode, first.stderr).toBe(0);
      const sessionId = resultOf(first).session_id;
      expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

      const second = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, "--resume", sessionId, "What was the word?"] });
      console.log(`(c) first ${first.ms} ms, resumed ${second.ms} ms`);
      expect(second.exitCode, second.stderr).toBe(0);
      expect(resultOf(second)).toMatchObject({ subtype: "success", is_error: false, result: "The word was PINEAPPLE." });
      // --resume continues the same session id (it does not fork a new one).
      expect(initOf(second).session_id).toBe(sessionId);
      expect(resultOf(second).session_id).toBe(sessionId);

      const main = fake.messageRequests().filter(isMainTurn);
      expect(main).toHaveLength(2);
      const resumed = at(main, 1);
      const roles = resumed.messages!.map((m) => m.role);
      expect(roles).toContain("assistant");
      expect(conversationText(resumed)).toContain("Remember the word PINEAPPLE");
      expect(conversationText(resumed)).toContain("Noted, I will remember it.");
      expect(lastUserText(resumed)).toContain("What was the word?");
      saveFixture("resumed.jsonl", second, { workdir, configDir });
    });
  }, 120_000);

  it("(d) resuming an unknown session fails with 'No conversation found' before any API call", async () => {
    await withFake([], async (fake) => {
      const workdir = agentDir("work");
      const configDir = agentDir("config");
      const missing = "00000000-0000-4000-8000-000000000000";
      const r = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, "--resume", missing, "Continue"] });
      console.log(`(d) container ran ${r.ms} ms; stderr: ${r.stderr.trim()}`);

      expect(r.exitCode).toBe(1);
      expect(r.stderr.trim()).toBe(`No conversation found with session ID: ${missing}`);
      // stream-json: no init event, only an error result.
      expect(r.events).toHaveLength(1);
      expect(r.events[0]).toMatchObject({
        type: "result",
        subtype: "error_during_execution",
        is_error: true,
        num_turns: 0,
        session_id: missing,
        errors: [`No conversation found with session ID: ${missing}`],
      });
      expect(fake.messageRequests()).toHaveLength(0);
      saveFixture("error-resume-not-found.jsonl", r, { workdir, configDir });
    });
  }, 120_000);

  it("(e) the API key travels via stdin: absent from docker inspect, present at the API; prompt via stdin too", async () => {
    await withFake([{ match: isMainTurn, reply: { text: "Key received." } }], async (fake) => {
      const workdir = agentDir("work");
      const configDir = agentDir("config");
      const prompt = "A private prompt that should not appear in docker inspect";
      const r = await runClaude({
        fake,
        workdir,
        configDir,
        args: CLAUDE_FLAGS, // no prompt in argv: claude reads it from the rest of stdin
        env: ["LOOP_PROMPT_ON_STDIN=1"],
        stdin: `ANTHROPIC_API_KEY=${API_KEY}\nNOT_ALLOWED=evil\n\n${prompt}\n`,
      });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain("ignoring non-whitelisted key 'NOT_ALLOWED'");
      expect(resultOf(r)).toMatchObject({ is_error: false, result: "Key received." });

      const inspected = JSON.stringify(r.inspect);
      expect(inspected).not.toContain(API_KEY);
      expect(inspected).not.toContain(prompt);
      expect(r.inspect.Config.Env.some((e) => e.startsWith("ANTHROPIC_API_KEY"))).toBe(false);

      const requests = fake.messageRequests();
      expect(requests.length).toBeGreaterThan(0);
      for (const req of requests) {
        expect(req.apiKey).toBe(API_KEY);
        expect(req.headers["x-api-key"]).toBe("<redacted>");
      }
      expect(lastUserText(at(mainTurns(fake), 0))).toContain(prompt);
    });
  }, 120_000);

  it("(f) --mcp-config with an HTTP server 'loop': connects at start; tool is deferred behind ToolSearch", async () => {
    const mcp = await startMcp();
    const workdir = agentDir("work");
    const configDir = agentDir("config");
    const mcpConfig = join(configDir, "mcp.json");
    writeFileSync(mcpConfig, JSON.stringify({ mcpServers: { loop: { type: "http", url: mcp.url, headers: { Authorization: "Bearer x" } } } }));
    const rules: Rule[] = [
      // 1: load the deferred tool's schema, 2: call it, 3: finish.
      { match: (r) => isMainTurn(r) && !hasToolResult(r), reply: { toolUses: [{ name: "ToolSearch", input: { query: "select:mcp__loop__schedule_task", max_results: 1 } }] } },
      { match: (r) => isMainTurn(r) && hasToolResult(r), times: 1, reply: { toolUses: [{ name: "mcp__loop__schedule_task", input: { cron: "0 9 * * 1-5", prompt: "standup" } }] } },
      { match: isMainTurn, reply: { text: "Scheduled." } },
    ];
    try {
      await withFake(rules, async (fake) => {
        // Note: --mcp-config is variadic (<configs...>): "--mcp-config <file> <prompt>" would
        // swallow the prompt as a second config file. Use the "=" form or put it after the prompt.
        const r = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, `--mcp-config=${mcpConfig}`, "Schedule a standup"] });
        console.log(`(f) container ran ${r.ms} ms; MCP calls: ${mcp.rpc.map((c) => c.method).join(", ")}`);
        expect(r.exitCode, r.stderr).toBe(0);

        const init = initOf(r);
        expect(init.mcp_servers).toEqual([{ name: "loop", status: "connected", source: "dynamic" }]);
        expect(init.tools).toContain("mcp__loop__schedule_task");

        // The CLI connected at start with our header, in MCP 2026-07-28: no initialize.
        const methods = mcp.rpc.map((c) => c.method);
        expect(methods).toEqual(["server/discover", "tools/list", "tools/call"]);
        expect(methods.indexOf("tools/list")).toBeLessThan(methods.indexOf("tools/call"));
        expect(mcp.rpc.every((c) => c.auth === "Bearer x")).toBe(true);
        expect(mcp.calls).toEqual([{ cron: "0 9 * * 1-5", prompt: "standup" }]);

        const [first, second] = mainTurns(fake, 2) as [RecordedRequest, RecordedRequest];
        // First request: the MCP tool is only named in the deferred-tools list (a "system" message), not offered.
        expect(first.toolNames).toContain("ToolSearch");
        expect(first.toolNames).not.toContain("mcp__loop__schedule_task");
        expect(JSON.stringify(first.messages)).toContain("mcp__loop__schedule_task");
        // After ToolSearch the tool is offered with its schema (defer_loading: true).
        const offered = second.body.tools.find((t: any) => t.name === "mcp__loop__schedule_task");
        expect(offered).toMatchObject({ input_schema: { properties: { cron: { type: "string" }, prompt: { type: "string" } } }, defer_loading: true });

        const mcpResult = r.events.filter((e) => e.type === "user").at(-1);
        expect(mcpResult.message.content[0]).toMatchObject({ type: "tool_result", content: [{ type: "text", text: 'scheduled "standup" at 0 9 * * 1-5' }] });
        expect(resultOf(r)).toMatchObject({ subtype: "success", is_error: false, result: "Scheduled.", num_turns: 3 });
        saveFixture("mcp-tool.jsonl", r, { workdir, configDir });
      });

      // With ENABLE_TOOL_SEARCH=false the MCP tool is offered directly in the first request.
      await withFake([{ match: isMainTurn, reply: { text: "OK" } }], async (fake) => {
        const r = await runClaude({ fake, workdir, configDir, env: ["ENABLE_TOOL_SEARCH=false"], args: [...CLAUDE_FLAGS, `--mcp-config=${mcpConfig}`, "hi"] });
        expect(r.exitCode, r.stderr).toBe(0);
        const first = at(mainTurns(fake), 0);
        expect(first.toolNames).toContain("mcp__loop__schedule_task");
        expect(first.toolNames).not.toContain("ToolSearch");
      });
    } finally {
      await mcp.close();
    }
  }, 120_000);

  it("(f2) an unreachable MCP server does not stop the run: status 'failed' in init", async () => {
    await withFake([{ match: isMainTurn, reply: { text: "Still working." } }], async (fake) => {
      const workdir = agentDir("work");
      const configDir = agentDir("config");
      const mcpConfig = join(configDir, "mcp.json");
      // Port 9 (discard) on loopback: nothing listens there.
      writeFileSync(mcpConfig, JSON.stringify({ mcpServers: { loop: { type: "http", url: "http://127.0.0.1:9/mcp" } } }));
      const r = await runClaude({ fake, workdir, configDir, args: [...CLAUDE_FLAGS, `--mcp-config=${mcpConfig}`, "hi"] });
      expect(r.exitCode, r.stderr).toBe(0);
      expect(initOf(r).mcp_servers).toEqual([{ name: "loop", status: "failed", source: "dynamic" }]);
      expect(initOf(r).tools).not.toContain("mcp__loop__schedule_task");
      expect(resultOf(r)).toMatchObject({ is_error: false, result: "Still working." });
    });
  }, 120_000);

  it("(g) a rejected API key: api_retry events, then an is_error result and exit 1", async () => {
    const rules: Rule[] = [{ match: () => true, reply: { error: { status: 401, type: "authentication_error", message: "invalid x-api-key" } } }];
    await withFake(rules, async (fake) => {
      const workdir = agentDir("work");
      const configDir = agentDir("config");
      // By default the CLI retries a 401 ten times with exponential backoff (minutes);
      // CLAUDE_CODE_MAX_RETRIES bounds that.
      const r = await runClaude({ fake, workdir, configDir, env: ["CLAUDE_CODE_MAX_RETRIES=1"], args: [...CLAUDE_FLAGS, "hi"] });
      console.log(`(g) container ran ${r.ms} ms; exit ${r.exitCode}; result: ${JSON.stringify(resultOf(r)?.result)}`);
      expect(r.exitCode).toBe(1);
      expect(fake.messageRequests()).toHaveLength(2);

      const retry = r.events.find((e) => e.type === "system" && e.subtype === "api_retry");
      expect(retry).toMatchObject({ attempt: 1, max_retries: 1, error_status: 401, error: "authentication_failed" });
      expect(retry.retry_delay_ms).toBeGreaterThan(0);

      // The CLI rewrites the real API's 401 message ("invalid x-api-key"); with another message the
      // text reads "Failed to authenticate. API Error: 401 <message>".
      const text = "Invalid API key · Fix external API key";
      // The error is reported as a synthetic assistant message ...
      const synthetic = r.events.find((e) => e.type === "assistant");
      expect(synthetic).toMatchObject({ error: "authentication_failed", message: { model: "<synthetic>", content: [{ type: "text", text }] } });
      // ... and a result with is_error (note: subtype stays "success").
      expect(resultOf(r)).toMatchObject({
        type: "result",
        subtype: "success",
        is_error: true,
        api_error_status: 401,
        terminal_reason: "api_error",
        result: text,
      });
      saveFixture("error-auth.jsonl", r, { workdir, configDir });
    });
  }, 120_000);

  it("(h) a slow reply can be interrupted: SIGINT ends with an aborted result (exit 0), SIGTERM exits 143 without one", async () => {
    const slow = { text: Array.from({ length: 60 }, (_, i) => `word${i}`).join(" "), delayMs: 100 };
    const interrupt = async (signal: string) =>
      withFake([{ match: isMainTurn, reply: slow }], async (fake) => {
        const workdir = agentDir("work");
        const configDir = agentDir("config");
        let killed: Promise<unknown> | undefined;
        const r = await runClaude({
          fake,
          workdir,
          configDir,
          args: [...CLAUDE_FLAGS, "Talk slowly"],
          onStarted: (c) => {
            killed = (async () => {
              // Wait until the reply is streaming, then signal mid-stream (the full reply takes 6 s).
              while (!fake.messageRequests().some(isMainTurn)) await new Promise((res) => setTimeout(res, 50));
              await new Promise((res) => setTimeout(res, 700));
              await c.kill({ signal });
            })();
          },
        });
        await killed;
        return { ...r, dirs: { workdir, configDir } };
      });

    const int = await interrupt("SIGINT");
    console.log(`(h) SIGINT: exit ${int.exitCode} after ${int.ms} ms; result subtype ${resultOf(int)?.subtype}`);
    expect(int.exitCode).toBe(0);
    const partial = int.events.find((e) => e.type === "assistant");
    expect(partial.message.content[0].text).toMatch(/^word0 word1/);
    expect(partial.message.content[0].text).not.toContain("word59");
    expect(int.events.some((e) => e.type === "user" && e.message.content?.[0]?.text === "[Request interrupted by user]")).toBe(true);
    // Exit code 0, but the result says it was aborted.
    expect(resultOf(int)).toMatchObject({ type: "result", subtype: "error_during_execution", is_error: true, terminal_reason: "aborted_streaming" });
    saveFixture("interrupted.jsonl", int, int.dirs);

    const term = await interrupt("SIGTERM");
    console.log(`(h) SIGTERM: exit ${term.exitCode} after ${term.ms} ms; events ${term.events.map((e) => e.type).join(",")}`);
    expect(term.exitCode).toBe(143);
    expect(resultOf(term)).toBeUndefined();
  }, 120_000);
});
