/**
 * /mcp: the remote MCP endpoint (Streamable HTTP), stateless. Each POST gets a fresh
 * Server and transport (cheap: the tool table is built once per isolate, mcp/server.ts): no
 * session lives between requests, so any isolate can answer any request and nothing needs
 * cleaning up. Responses are plain JSON (enableJsonResponse):
 * every tool answers in one D1 round trip or a few, so there is nothing to stream.
 *
 * Auth is the REST API's: admin, channel-scoped or run-scoped bearer tokens (a 401 carries
 * WWW-Authenticate, set by the app's onError). GET (a server-to-client SSE stream) and
 * DELETE (ending a session) mean nothing without sessions, so they answer 405, which the
 * spec allows and clients expect.
 */
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { Hono, type Context } from "hono";
import { MAX_BODY_BYTES } from "../../protocol/api.ts";
import { MCP_CHANNEL_HEADER } from "../../protocol/mcp.ts";
import { apiAuth } from "../http/auth.ts";
import type { AppEnv } from "../http/types.ts";
import { buildMcpServer } from "../mcp/server.ts";

function methodNotAllowed(c: Context): Response {
  return c.json(
    { jsonrpc: "2.0", error: { code: -32000, message: "Method not allowed: this MCP endpoint is stateless; send JSON-RPC with POST." }, id: null },
    405,
    { Allow: "POST" },
  );
}

export const mcpRoutes = new Hono<AppEnv>()
  .post("/", apiAuth, async function mcp(c) {
    const server = buildMcpServer(c.var.domain, { defaultChannelId: c.req.header(MCP_CHANNEL_HEADER) || undefined });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_BODY_BYTES,
    });
    await server.connect(transport);
    try {
      return await transport.handleRequest(c.req.raw);
    } finally {
      // The JSON body is complete once handleRequest resolves; nothing outlives the request.
      await server.close();
    }
  })
  .all("/", methodNotAllowed);
