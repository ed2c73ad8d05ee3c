/**
 * /mcp: the remote MCP endpoint (Streamable HTTP), stateless, for both protocol eras.
 *
 * - 2026-07-28 (Claude Code today): every request carries its protocol version, client info
 *   and capabilities in `_meta`; there is no initialize and no session. A run's Claude Code
 *   sends server/discover and tools/list, then its tools/calls. The SDK's createMcpHandler
 *   serves this era, with its validation ladder (unsupported version, missing envelope,
 *   header/body mismatch answer the SDK's JSON-RPC errors with a 4xx).
 * - 2025-era clients (initialize first, no `_meta`): each POST gets a fresh Server and a
 *   stateless Streamable HTTP transport answering plain JSON (enableJsonResponse: every tool
 *   answers in one D1 round trip or a few, so there is nothing to stream). The SDK's own
 *   legacy fallback would answer over SSE.
 *
 * Either way a request builds one Server for the caller's DomainContext (cheap: the tool
 * table is built once per isolate, mcp/server.ts), and nothing lives between requests, so any
 * isolate can answer any request. The body is read (within MAX_BODY_BYTES) and parsed once,
 * here, and handed to the SDK as parsedBody, so the SDK reads nothing itself.
 *
 * Auth is the REST API's: admin, channel-scoped or run-scoped bearer tokens (a 401 carries
 * WWW-Authenticate, set by the app's onError). GET (a server-to-client SSE stream) and
 * DELETE (ending a session) mean nothing without sessions, so they answer 405, which the
 * spec allows and clients expect.
 */
import {
  createMcpHandler,
  isJsonContentType,
  isLegacyRequest,
  readRequestBody,
  WebStandardStreamableHTTPServerTransport,
  type Server,
} from "@modelcontextprotocol/server";
import { Hono, type Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { MAX_BODY_BYTES } from "../../protocol/api.ts";
import { MCP_CHANNEL_HEADER } from "../../protocol/mcp.ts";
import { log } from "../../core/log.ts";
import { apiAuth } from "../http/auth.ts";
import type { AppEnv } from "../http/types.ts";
import { buildMcpServer } from "../mcp/server.ts";

/** A JSON-RPC error as the SDK's transports answer one (no id: the request was not read). */
function rpcError(c: Context, status: ContentfulStatusCode, code: number, message: string, headers?: Record<string, string>): Response {
  return c.json({ jsonrpc: "2.0", error: { code, message }, id: null }, status, headers);
}

function methodNotAllowed(c: Context): Response {
  return rpcError(c, 405, -32000, "Method not allowed: this MCP endpoint is stateless; send JSON-RPC with POST.", { Allow: "POST" });
}

const reportRejected = (error: Error) => log.debug("mcp: request rejected", { error: error.message });

/** A 2025-era request: one Server, one stateless transport, plain JSON back. */
async function serveLegacy(server: Server, request: Request, parsedBody: unknown): Promise<Response> {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  await server.connect(transport);
  try {
    return await transport.handleRequest(request, { parsedBody });
  } finally {
    // The JSON body is complete once handleRequest resolves; nothing outlives the request.
    await server.close();
  }
}

export const mcpRoutes = new Hono<AppEnv>()
  .post("/", apiAuth, async function mcp(c) {
    const request = c.req.raw;
    if (!isJsonContentType(request.headers.get("content-type"))) return rpcError(c, 415, -32000, "Unsupported Media Type: Content-Type must be application/json");
    const body = await readRequestBody(request, MAX_BODY_BYTES);
    if (body.tooLarge) return rpcError(c, 413, -32000, `Payload too large: the body exceeds ${MAX_BODY_BYTES} bytes.`);
    let parsedBody: unknown;
    try {
      parsedBody = JSON.parse(body.text);
    } catch {
      return rpcError(c, 400, -32700, "Parse error: the body is not valid JSON.");
    }
    const server = () => buildMcpServer(c.var.domain, { defaultChannelId: c.req.header(MCP_CHANNEL_HEADER) || undefined });
    if (await isLegacyRequest(request, parsedBody)) return serveLegacy(server(), request, parsedBody);
    // legacy: "reject": this route serves the 2025 era itself (above), in plain JSON. The entry
    // is made per request so that its factory closes over this request's DomainContext; it holds
    // nothing costly (an event bus and a router for subscriptions/listen streams, which Claude
    // Code does not open while the tools capability says listChanged: false).
    return createMcpHandler(server, { legacy: "reject", onerror: reportRejected }).fetch(request, { parsedBody });
  })
  .all("/", methodNotAllowed);
