/**
 * `loop mcp`, the stdio bridge, against a real Worker (`wrangler dev`): the SDK's Client
 * spawns it over stdio, as a stdio-only MCP client would, and what the tools did is
 * checked over REST. The client speaks either era: 2025 (initialize) or 2026-07-28
 * (server/discover, then a `_meta` envelope on every request), as Claude Code does.
 */
import { Client, type CallToolResult } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { Channel, CreatedToken, Task } from "../../protocol/api.ts";
import { hasToolResult, isMainTurn, startFakeAnthropic } from "../fakes/anthropic.ts";
import { startRecordingProxy } from "../support/recording-proxy.ts";
import { startWorker, type TestWorker } from "../support/worker.ts";
import { cliEnv, LOOP, NODE, ROOT, removeTempDirs, runLoop, tempDir } from "./cli.ts";

let worker: TestWorker;
let home: string;

beforeAll(async () => {
  worker = await startWorker();
  home = await tempDir("loop-home-");
});
afterAll(async () => {
  await worker?.stop();
  await removeTempDirs();
});

async function api<S extends z.ZodType>(schema: S, method: string, path: string, body?: unknown): Promise<z.infer<S>> {
  const res = await fetch(`${worker.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${worker.adminToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return schema.parse(await res.json());
}

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

type Era = "legacy" | "modern";

/** Spawns `loop mcp` with these flags and connects the SDK's Client to it over stdio, in one era. */
async function bridge(flags: string[], era: Era = "legacy"): Promise<{ client: Client; stderr: () => string }> {
  const transport = new StdioClientTransport({
    command: NODE,
    args: [LOOP, "mcp", ...flags, "--api-url", worker.url],
    env: cliEnv(home),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d) => (stderr += d));
  const client = new Client({ name: "stdio-only-client", version: "1" }, era === "modern" ? { versionNegotiation: { mode: { pin: "2026-07-28" } } } : {});
  await client.connect(transport);
  expect(client.getNegotiatedProtocolVersion()).toBe(era === "modern" ? "2026-07-28" : "2025-11-25");
  clients.push(client);
  return { client, stderr: () => stderr };
}

describe("loop mcp (stdio bridge)", () => {
  it.each(["legacy", "modern"] as const)("with --dir (%s era): ensures the channel, lists the remote tools and schedules a task on that channel", async (era) => {
    const dir = await tempDir("loop-proj-");
    const { client, stderr } = await bridge(["--dir", dir, "--token", worker.adminToken], era);

    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(["schedule_task", "list_tasks", "cancel_task", "toggle_task", "edit_task", "run_task", "send_message"]));

    // No channel_id: the bridge names its channel for the connection.
    const result = (await client.callTool({ name: "schedule_task", arguments: { schedule: "0 8 * * *", type: "cron", prompt: "morning summary" } })) as CallToolResult;
    expect(result.isError, JSON.stringify(result.content)).toBeFalsy();
    const created = Task.parse(result.structuredContent);

    const channel = (await api(z.object({ channels: z.array(Channel) }), "GET", "/api/channels")).channels.find((c) => c.dir_path === dir)!;
    expect(created.channel_id).toBe(channel.id);
    const { tasks } = await api(z.object({ tasks: z.array(Task) }), "GET", `/api/tasks?channel_id=${channel.id}`);
    expect(tasks).toEqual([expect.objectContaining({ id: created.id, schedule: "0 8 * * *", type: "cron", prompt: "morning summary" })]);

    expect(stderr()).toContain(`forwarding stdio to ${worker.url}/mcp for channel ${channel.id}`);
  });

  it("with --channel-id and a channel token: forwards tool errors as tool errors", async () => {
    const channel = await api(Channel, "POST", "/api/channels", { dir_path: await tempDir("loop-proj-") });
    const { token } = await api(CreatedToken, "POST", "/api/tokens", { name: "bridge test", scope: [channel.id] });
    const { client } = await bridge(["--channel-id", channel.id, "--token", token]);

    const bad = (await client.callTool({ name: "schedule_task", arguments: { schedule: "every day", type: "interval", prompt: "p" } })) as CallToolResult;
    expect(bad.isError).toBe(true);
    expect((bad.content[0] as { text: string }).text).toMatch(/^invalid_schedule: "every day" is not a duration/);

    const listed = (await client.callTool({ name: "list_tasks", arguments: {} })) as CallToolResult;
    expect(listed.structuredContent).toEqual({ tasks: [] });
  });

  it.each(["legacy", "modern"] as const)("answers a request the Worker refuses (token revoked mid-session, %s era) with a JSON-RPC error instead of hanging", async (era) => {
    const channel = await api(Channel, "POST", "/api/channels", { dir_path: await tempDir("loop-proj-") });
    const minted = await api(CreatedToken, "POST", "/api/tokens", { name: "revoked mid-session", scope: [channel.id] });
    const { client } = await bridge(["--channel-id", channel.id, "--token", minted.token], era);
    expect((await client.callTool({ name: "list_tasks", arguments: {} })).isError).toBeFalsy();

    const res = await fetch(`${worker.url}/api/tokens/${minted.id}`, { method: "DELETE", headers: { authorization: `Bearer ${worker.adminToken}` } });
    expect(res.status).toBe(204);
    await expect(client.callTool({ name: "list_tasks", arguments: {} })).rejects.toThrow(/Loop API answered HTTP 401: unauthorized: The bearer token is not valid\./);
  });

  it("refuses to start without a channel, or with a channel the token cannot see", async () => {
    const cwd = await tempDir("loop-proj-");
    const none = await runLoop(["mcp", "--api-url", worker.url, "--token", worker.adminToken], { cwd, env: cliEnv(home) });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/loop mcp: give exactly one of --dir <path> or --channel-id <id>/);
    expect(none.stdout).toBe("");

    const unknown = await runLoop(["mcp", "--channel-id", "ch_nope", "--api-url", worker.url, "--token", worker.adminToken], { cwd, env: cliEnv(home) });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/GET \/api\/channels\/ch_nope refused: not_found: channel ch_nope does not exist/);
    expect(unknown.stdout).toBe("");
  });

  it("the real Claude Code CLI reaches the remote tools through it, speaking 2026-07-28 end to end", async () => {
    const channel = await api(Channel, "POST", "/api/channels", { dir_path: await tempDir("loop-proj-") });
    const proxy = await startRecordingProxy(worker.url);
    const fake = await startFakeAnthropic([
      { match: (r) => isMainTurn(r) && !hasToolResult(r), reply: { toolUses: [{ name: "mcp__loop__schedule_task", input: { type: "interval", schedule: "2h", prompt: "water the plants" } }] } },
      { match: isMainTurn, reply: { text: "Scheduled." } },
    ]);
    try {
      const claudeHome = await tempDir("claude-home-");
      const mcpConfig = join(claudeHome, "mcp.json");
      const loopMcp = [LOOP, "mcp", "--channel-id", channel.id, "--api-url", proxy.url, "--token", worker.adminToken];
      await writeFile(mcpConfig, JSON.stringify({ mcpServers: { loop: { command: NODE, args: loopMcp, env: { HOME: home } } } }));
      // execFile, not spawnSync: the fake Anthropic API answers from this very process.
      const out = await new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        const child = execFile(
          join(ROOT, "node_modules/.bin/claude"),
          ["-p", "Water the plants every two hours.", `--mcp-config=${mcpConfig}`, "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__loop__schedule_task"],
          {
            cwd: claudeHome,
            timeout: 60_000,
            env: { ...cliEnv(claudeHome), ANTHROPIC_API_KEY: "sk-test-bridge", ANTHROPIC_BASE_URL: fake.url, ENABLE_TOOL_SEARCH: "false", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1", DISABLE_AUTOUPDATER: "1" },
          },
          (err, stdout, stderr) => done({ code: typeof err?.code === "number" ? err.code : err ? 1 : 0, stdout, stderr }),
        );
        child.stdin?.end();
      });
      expect(out.code, out.stderr).toBe(0);
      const events = out.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { type: string; subtype?: string; mcp_servers?: unknown; message?: { content?: unknown[] } });
      expect(events.find((e) => e.type === "system" && e.subtype === "init")?.mcp_servers).toEqual([expect.objectContaining({ name: "loop", status: "connected" })]);
      const toolResult = events.flatMap((e) => (e.type === "user" ? (e.message?.content ?? []) : [])).find((c) => (c as { type?: string }).type === "tool_result") as { is_error?: boolean; content?: unknown };
      expect(toolResult?.is_error, JSON.stringify(toolResult)).toBeFalsy();

      const { tasks } = await api(z.object({ tasks: z.array(Task) }), "GET", `/api/tasks?channel_id=${channel.id}`);
      expect(tasks).toEqual([expect.objectContaining({ type: "interval", schedule: "2h", prompt: "water the plants" })]);
      // What the CLI said on stdio reached the Worker unchanged: the 2026-07-28 handshake.
      expect(proxy.seen.map((r) => `${r.verb} ${r.method}`)).toEqual(["POST server/discover", "POST tools/list", "POST tools/call"]);
      expect(new Set(proxy.seen.map((r) => r.version))).toEqual(new Set(["2026-07-28"]));
    } finally {
      await fake.close();
      await proxy.close();
    }
  }, 90_000);
});
