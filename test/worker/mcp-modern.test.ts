/**
 * /mcp in the 2026-07-28 era (stateless: no initialize, every request carries its protocol
 * version, client info and capabilities in `_meta`), as Claude Code speaks it, with the SDK
 * v2 Client against the real Worker (SELF), real D1 and Durable Objects. The 2025 era is
 * covered by mcp.test.ts (the same Client, which starts with initialize unless told otherwise).
 */
import { Client, StreamableHTTPClientTransport, type CallToolResult } from "@modelcontextprotocol/client";
import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { Channel, CreatedToken, Task } from "../../protocol/api.ts";
import { ADMIN, BASE, rest } from "./helpers.ts";

const MODERN = "2026-07-28";


async function newChannel(): Promise<Channel> {
  const res = await rest("POST", "/api/channels", { dir_path: `/home/me/modern-${crypto.randomUUID().slice(0, 8)}` });
  expect(res.status).toBe(201);
  return Channel.parse(res.body);
}

/** What the client sent: one entry per HTTP request, "<verb> <JSON-RPC method>". */
type Sent = string[];

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** A v2 client that negotiates the way Claude Code does: server/discover first, 2025 fallback. */
async function connect(token = ADMIN): Promise<{ client: Client; sent: Sent }> {
  const sent: Sent = [];
  const transport = new StreamableHTTPClientTransport(new URL(`${BASE}/mcp`), {
    fetch: (url, init) => {
      const body = typeof init?.body === "string" ? (JSON.parse(init.body) as { method?: string }) : undefined;
      sent.push(`${init?.method ?? "GET"} ${body?.method ?? ""}`.trim());
      return SELF.fetch(url, init);
    },
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: "mcp-modern-test", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
  await client.connect(transport);
  clients.push(client);
  return { client, sent };
}

/** A bare 2026-07-28 request, as the spec writes one: the version in the header and in `_meta`. */
function modernPost(method: string, params: Record<string, unknown>, opts: { version?: string; meta?: boolean; token?: string } = {}) {
  const version = opts.version ?? MODERN;
  const _meta = {
    "io.modelcontextprotocol/protocolVersion": version,
    "io.modelcontextprotocol/clientInfo": { name: "curl", version: "1" },
    "io.modelcontextprotocol/clientCapabilities": {},
  };
  return SELF.fetch(`${BASE}/mcp`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${opts.token ?? ADMIN}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": version,
      "mcp-method": method,
    },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: opts.meta === false ? params : { ...params, _meta } }),
  });
}

describe("the 2026-07-28 era", () => {
  it("negotiates with server/discover alone: no initialize, no session, tools without listChanged", async () => {
    const { client, sent } = await connect();
    expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
    expect(sent).toEqual(["POST server/discover"]);
    const { tools } = await client.listTools();
    expect(sent).toEqual(["POST server/discover", "POST tools/list"]);
    expect(tools.map((t) => t.name)).toContain("schedule_task");
    expect(client.getInstructions()).toMatch(/^Loop runs Claude agents on channels/);
  });

  it("server/discover answers the supported versions, the tools capability with listChanged false, and Loop's instructions", async () => {
    const res = await modernPost("server/discover", {});
    expect(res.status).toBe(200);
    expect(res.headers.get("mcp-session-id")).toBeNull();
    const body = (await res.json()) as { result: { supportedVersions: string[]; capabilities: { tools?: { listChanged?: boolean } }; instructions?: string } };
    expect(body.result.supportedVersions).toContain(MODERN);
    expect(body.result.capabilities.tools).toBeDefined();
    expect(body.result.capabilities.tools?.listChanged).toBeFalsy();
    expect(body.result.instructions).toMatch(/loop_done/);
  });

  it("tools/list shows the same table as the 2025 era, with JSON Schemas", async () => {
    const { client } = await connect();
    const { tools } = await client.listTools();
    const res = await SELF.fetch(`${BASE}/mcp`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: {} }),
    });
    const legacy = (await res.json()) as { result: { tools: { name: string; inputSchema: unknown }[] } };
    expect(tools.map((t) => t.name)).toEqual(legacy.result.tools.map((t) => t.name));
    const schedule = tools.find((t) => t.name === "schedule_task")!;
    expect(schedule.inputSchema).toEqual(legacy.result.tools.find((t) => t.name === "schedule_task")!.inputSchema);
    expect(schedule.inputSchema.required?.sort()).toEqual(["prompt", "type"]);
  });

  it("tools/call works per request and keeps each request's scope: a channel token sees only its channel", async () => {
    const mine = await newChannel();
    const other = await newChannel();
    const token = CreatedToken.parse((await rest("POST", "/api/tokens", { name: "modern", scope: [mine.id] })).body).token;
    const { client, sent } = await connect(token);

    const scheduled = (await client.callTool({ name: "schedule_task", arguments: { type: "interval", schedule: "30m", prompt: "check the build" } })) as CallToolResult;
    expect(scheduled.isError).toBeFalsy();
    const task = Task.parse(scheduled.structuredContent);
    expect(task).toMatchObject({ channel_id: mine.id, type: "interval", schedule: "30m" });
    expect((await rest("GET", `/api/tasks/${task.id}`)).body.prompt).toBe("check the build");

    const listed = (await client.callTool({ name: "list_tasks", arguments: {} })) as CallToolResult;
    expect(z.object({ tasks: z.array(Task) }).parse(listed.structuredContent).tasks.map((t) => t.id)).toEqual([task.id]);

    const foreign = (await client.callTool({ name: "list_tasks", arguments: { channel_id: other.id } })) as CallToolResult;
    expect(foreign.isError).toBe(true);
    expect((foreign.content[0] as { text: string }).text).toMatch(/^not_found: /);
    expect(sent.filter((s) => s !== "POST tools/list")).toEqual(["POST server/discover", "POST tools/call", "POST tools/call", "POST tools/call"]);
  });

  it("bad arguments are tool errors with the same wording as in the 2025 era", async () => {
    const { client } = await connect();
    const channel = await newChannel();
    const result = (await client.callTool({ name: "schedule_task", arguments: { channel_id: channel.id, schedule: 5, type: "interval", prompt: "p" } })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect((result.content[0] as { text: string }).text).toBe("Input validation error: Invalid arguments for tool schedule_task: Invalid input: expected string, received number at schedule");
    expect((await rest("GET", `/api/tasks?channel_id=${channel.id}`)).body.tasks).toEqual([]);
  });
});

describe("the 2026-07-28 era refuses malformed requests with the SDK's errors", () => {
  it("an unsupported protocol version: 400, -32022, naming the supported one", async () => {
    const res = await modernPost("tools/list", {}, { version: "2099-01-01" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: number; message: string; data?: { supported?: string[] } } };
    expect(body.error.code).toBe(-32022);
    expect(body.error.data?.supported).toContain(MODERN);
  });

  it("a 2026-07-28 header without the `_meta` envelope: 400, -32602", async () => {
    const res = await modernPost("tools/list", {}, { meta: false });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { code: number } }).error.code).toBe(-32602);
  });

  it("still needs a token: 401 with WWW-Authenticate before any MCP is read", async () => {
    const res = await modernPost("server/discover", {}, { token: "loop_api_nope" });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="loop"/);
  });
});

describe("bodies the endpoint cannot read are a clear 4xx in either era", () => {
  const post = (body: string, contentType = "application/json") =>
    SELF.fetch(`${BASE}/mcp`, { method: "POST", headers: { authorization: `Bearer ${ADMIN}`, "content-type": contentType, accept: "application/json, text/event-stream" }, body });

  it("not JSON: 400 parse error; not application/json: 415; over the body limit: 413", async () => {
    const garbled = await post("{not json");
    expect(garbled.status).toBe(400);
    expect(((await garbled.json()) as { error: { code: number } }).error.code).toBe(-32700);
    expect((await post("{}", "text/plain")).status).toBe(415);
    const huge = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list", params: { pad: "x".repeat(70_000) } }));
    expect(huge.status).toBe(413);
  });
});
