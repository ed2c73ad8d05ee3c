/**
 * `loop onboard:local` against a real Worker (`wrangler dev`): the channel, the token and
 * .mcp.json it leaves behind, and that running it again changes nothing.
 */
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { ApiToken, Channel } from "../../protocol/api.ts";
import { startWorker, type TestWorker } from "../support/worker.ts";
import { cliEnv, removeTempDirs, runLoop, tempDir } from "./cli.ts";

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

async function api<S extends z.ZodType>(schema: S, method: string, path: string): Promise<z.infer<S>> {
  const res = await fetch(`${worker.url}${path}`, { method, headers: { authorization: `Bearer ${worker.adminToken}` } });
  expect(res.status, `${method} ${path}`).toBeLessThan(300);
  return schema.parse(res.status === 204 ? null : await res.json());
}
const tokens = async () => api(z.object({ tokens: z.array(ApiToken) }), "GET", "/api/tokens").then((b) => b.tokens);
const channels = async () => api(z.object({ channels: z.array(Channel) }), "GET", "/api/channels").then((b) => b.channels);

const McpJson = z.object({
  mcpServers: z.record(z.string(), z.unknown()).and(
    z.object({ loop: z.object({ type: z.literal("http"), url: z.string(), headers: z.object({ Authorization: z.string() }).loose() }).loose() }),
  ),
});
const readMcpJson = async (dir: string) => McpJson.parse(JSON.parse(await readFile(join(dir, ".mcp.json"), "utf8")));

const onboard = (dir: string, extraArgs: string[] = [], env: Record<string, string> = {}) =>
  runLoop(["onboard:local", "--api-url", worker.url, "--token", worker.adminToken, ...extraArgs], { cwd: dir, env: cliEnv(home, env) });

describe("loop onboard:local", () => {
  it("creates the channel, a token scoped to it, and .mcp.json with the loop HTTP server", async () => {
    const dir = await tempDir("loop-proj-");
    const before = await tokens();
    const r = await onboard(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/channel +ch_\S+ \(created\)/);

    const channel = (await channels()).find((c) => c.dir_path === dir);
    expect(channel).toBeDefined();
    const minted = (await tokens()).filter((t) => !before.some((b) => b.id === t.id));
    expect(minted).toHaveLength(1);
    expect(minted[0]!.scope).toEqual([channel!.id]);

    const file = await readMcpJson(dir);
    expect(file.mcpServers.loop).toEqual({ type: "http", url: `${worker.url}/mcp`, headers: { Authorization: expect.stringMatching(/^Bearer loop_api_/) } });
    expect((await stat(join(dir, ".mcp.json"))).mode & 0o777).toBe(0o600);

    // What Claude Code would do with it: connect (2026-07-28, server/discover first) and call a tool without naming the channel.
    const client = new Client({ name: "claude-code-stand-in", version: "1" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(file.mcpServers.loop.url), { requestInit: { headers: { Authorization: file.mcpServers.loop.headers.Authorization } } }),
    );
    expect(client.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    const scheduled = await client.callTool({ name: "schedule_task", arguments: { schedule: "1h", type: "interval", prompt: "tidy up" } });
    expect(scheduled.isError).toBeFalsy();
    expect((scheduled.structuredContent as { channel_id: string }).channel_id).toBe(channel!.id);
    await client.close();
  });

  it("a second run changes nothing: same bytes, no new token", async () => {
    const dir = await tempDir("loop-proj-");
    expect((await onboard(dir)).code).toBe(0);
    const bytes = await readFile(join(dir, ".mcp.json"));
    const before = await tokens();

    const again = await onboard(dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/\(existing\)/);
    expect(again.stdout).toMatch(/reused the one in \.mcp\.json/);
    expect(again.stdout).toMatch(/\.mcp\.json +unchanged/);
    expect(await readFile(join(dir, ".mcp.json"))).toEqual(bytes);
    expect((await tokens()).map((t) => t.id).sort()).toEqual(before.map((t) => t.id).sort());
  });

  it("keeps the other servers and the rest of an existing .mcp.json", async () => {
    const dir = await tempDir("loop-proj-");
    const github = { command: "npx", args: ["-y", "@modelcontextprotocol/server-github"], env: { GITHUB_TOKEN: "x" } };
    await writeFile(join(dir, ".mcp.json"), `${JSON.stringify({ mcpServers: { github }, other: [1, 2] }, null, 4)}\n`);

    const r = await onboard(dir);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(join(dir, ".mcp.json"), "utf8");
    const file = JSON.parse(text);
    expect(file.mcpServers.github).toEqual(github);
    expect(file.other).toEqual([1, 2]);
    expect(file.mcpServers.loop.url).toBe(`${worker.url}/mcp`);
    // The rest of the file keeps its own formatting.
    expect(text).toContain(`    "other": [\n        1,\n        2\n    ]`);

    const again = await onboard(dir);
    expect(again.stdout).toMatch(/unchanged/);
    expect(await readFile(join(dir, ".mcp.json"), "utf8")).toBe(text);
  });

  it("replaces a token that no longer works, keeping the entry's other settings", async () => {
    const dir = await tempDir("loop-proj-");
    expect((await onboard(dir)).code).toBe(0);
    const first = await readMcpJson(dir);
    // A setting the user added by hand survives.
    const tuned = { mcpServers: { loop: { ...first.mcpServers.loop, timeout: 30000 } } };
    await writeFile(join(dir, ".mcp.json"), JSON.stringify(tuned, null, 2));
    const oldSecret = first.mcpServers.loop.headers.Authorization.replace("Bearer ", "");
    const old = (await tokens()).find((t) => t.name === `loop onboard:local ${dir}`)!;
    await api(z.null(), "DELETE", `/api/tokens/${old.id}`);

    const r = await onboard(dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/tok_\S+ minted/);
    const second = await readMcpJson(dir);
    expect(second.mcpServers.loop.headers.Authorization).not.toBe(`Bearer ${oldSecret}`);
    expect(second.mcpServers.loop).toMatchObject({ type: "http", timeout: 30000 });
  });

  it("takes the URL and token from LOOP_API_URL / LOOP_ADMIN_TOKEN, then from ~/.loop/config.json with comments", async () => {
    const fromEnv = await tempDir("loop-proj-");
    const r1 = await runLoop(["onboard:local"], { cwd: fromEnv, env: cliEnv(home, { LOOP_API_URL: worker.url, LOOP_ADMIN_TOKEN: worker.adminToken }) });
    expect(r1.code, r1.stderr).toBe(0);
    expect((await readMcpJson(fromEnv)).mcpServers.loop.url).toBe(`${worker.url}/mcp`);

    const ownHome = await tempDir("loop-home-");
    await mkdir(join(ownHome, ".loop"));
    await writeFile(
      join(ownHome, ".loop", "config.json"),
      `{\n  // where the Worker lives\n  "worker_url": "${worker.url}/",\n  "admin_token": "${worker.adminToken}",\n  "container_image": "loop-agent:latest", // other keys are fine\n}\n`,
    );
    const fromFile = await tempDir("loop-proj-");
    const r2 = await runLoop(["onboard:local"], { cwd: fromFile, env: cliEnv(ownHome) });
    expect(r2.code, r2.stderr).toBe(0);
    expect((await readMcpJson(fromFile)).mcpServers.loop.url).toBe(`${worker.url}/mcp`);
  });

  it("explains what is missing or refused, and leaves the directory alone", async () => {
    const dir = await tempDir("loop-proj-");
    const none = await runLoop(["onboard:local", "--api-url", worker.url], { cwd: dir, env: cliEnv(home) });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/loop onboard:local: no token: pass --token, set LOOP_ADMIN_TOKEN, or set admin_token in .*config\.json/);

    const wrong = await onboard(dir, ["--token", "loop_api_not-a-real-token"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/POST \/api\/channels refused: unauthorized: The bearer token is not valid\. \(the token came from --token\)/);

    const unreachable = await runLoop(["onboard:local", "--api-url", "http://127.0.0.1:9", "--token", "x"], { cwd: dir, env: cliEnv(home) });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach the Loop API at http:\/\/127\.0\.0\.1:9/);

    await writeFile(join(dir, ".mcp.json"), "{ not json");
    const broken = await onboard(dir);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/\.mcp\.json is not valid JSON/);
    expect(await readFile(join(dir, ".mcp.json"), "utf8")).toBe("{ not json");
  });
});
