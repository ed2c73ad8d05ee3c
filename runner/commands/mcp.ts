/**
 * `loop mcp`: a stdio MCP server for clients that only speak stdio. It holds no tools of
 * its own: every JSON-RPC message from stdin goes to the Worker's /mcp endpoint as is, and
 * every answer comes back on stdout, so the tools are exactly the remote ones. The channel
 * (from --dir, ensured first, or --channel-id) travels in the Loop-Channel header, which
 * the Worker uses when a tool call names no channel. stdout carries only protocol
 * messages; every log line goes to stderr.
 *
 * Both protocol eras pass through unchanged. A 2026-07-28 client (server/discover first, a
 * `_meta` envelope on every request) needs nothing from the bridge: the SDK v2 HTTP
 * transport derives the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers the Worker
 * checks from each message's envelope. A 2025-era client negotiates with initialize, and
 * the bridge tells the transport the version it agreed on, as the SDK's Client would.
 */
import { resolve } from "node:path";
import {
  isInitializeRequest,
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  SdkHttpError,
  StreamableHTTPClientTransport,
  type RequestId,
  type Transport,
} from "@modelcontextprotocol/client";
import { StdioServerTransport } from "@modelcontextprotocol/server/stdio";
import { ErrorBody } from "../../protocol/api.ts";
import { MCP_CHANNEL_HEADER, MCP_PATH } from "../../protocol/mcp.ts";
import { ApiClient, resolveTarget } from "../api-client.ts";
import { UserError } from "../user-error.ts";
import { parseFlags } from "../flags.ts";

const USAGE = `usage: loop mcp (--dir <path> | --channel-id <id>) [--api-url <url>] [--token <token>]

A stdio MCP server that forwards to the Worker's remote /mcp endpoint, for MCP clients
that cannot speak Streamable HTTP. --dir ensures a channel for the directory first.
The URL and token default to LOOP_API_URL / LOOP_ADMIN_TOKEN, then worker_url /
admin_token in ~/.loop/config.json.`;

const log = (message: string): void => {
  process.stderr.write(`loop mcp: ${message}\n`);
};

export async function run(argv: string[]): Promise<number> {
  // Help goes to stderr: stdout is the MCP channel.
  const values = parseFlags(
    argv,
    { dir: { type: "string" }, "channel-id": { type: "string" }, "api-url": { type: "string" }, token: { type: "string" } },
    USAGE,
    (text) => process.stderr.write(`${text}\n`),
  );
  if (!values) return 0;
  if (Boolean(values.dir) === Boolean(values["channel-id"])) throw new UserError(`give exactly one of --dir <path> or --channel-id <id>.\n\n${USAGE}`);

  const target = await resolveTarget({ apiUrl: values["api-url"], token: values.token });
  const api = new ApiClient(target);
  const channel = values.dir ? (await api.ensureChannel({ dir_path: resolve(values.dir) })).channel : await api.getChannel(values["channel-id"]!);
  log(`forwarding stdio to ${target.apiUrl}${MCP_PATH} for channel ${channel.id}${channel.dir_path ? ` (${channel.dir_path})` : ""}`);

  const remote = new StreamableHTTPClientTransport(new URL(`${target.apiUrl}${MCP_PATH}`), {
    requestInit: { headers: { Authorization: `Bearer ${target.token}`, [MCP_CHANNEL_HEADER]: channel.id } },
  });
  await bridge(new StdioServerTransport(), remote);
  return 0;
}

/** "Loop API answered HTTP 401: unauthorized: …" from the transport's error, which carries the status and the raw body. */
function describeFailure(err: Error): string {
  const http = err instanceof SdkHttpError ? err : undefined;
  const text = http?.data.text;
  const body = ErrorBody.safeParse(typeof text === "string" ? parseJson(text) : parseJsonTail(err.message));
  const detail = body.success ? `${body.data.error.code}: ${body.data.error.message}` : err.message;
  return http && http.status > 0 ? `Loop API answered HTTP ${http.status}: ${detail}` : `Loop API unreachable: ${detail}`;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function parseJsonTail(text: string): unknown {
  const start = text.indexOf("{");
  return start >= 0 ? parseJson(text.slice(start)) : null;
}

/**
 * Forwards messages both ways until the local side closes (stdin ends), then waits for the
 * answers still in flight. A request the remote side cannot take (network down, token
 * revoked) is answered locally with a JSON-RPC error, so the client never waits forever.
 */
export function bridge(local: Transport, remote: StreamableHTTPClientTransport): Promise<void> {
  return new Promise<void>((done, fail) => {
    const inFlight = new Set<Promise<void>>();
    let initializeId: RequestId | undefined;
    let closing = false;

    local.onmessage = (message) => {
      if (isJSONRPCRequest(message) && isInitializeRequest(message)) initializeId = message.id;
      const sent: Promise<void> = remote
        .send(message)
        .catch(async (err: Error) => {
          if (!isJSONRPCRequest(message)) return;
          await local.send({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: describeFailure(err) } });
        })
        .catch((err: Error) => log(`cannot write to stdout: ${err.message}`))
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    };
    remote.onmessage = (message) => {
      // 2025 era: the Streamable HTTP client sends MCP-Protocol-Version once it knows it; a
      // raw forwarder must tell it, as the SDK's Client would after initialize.
      if (isJSONRPCResultResponse(message) && message.id === initializeId && typeof message.result.protocolVersion === "string") {
        remote.setProtocolVersion(message.result.protocolVersion);
      }
      local.send(message).catch((err: Error) => log(`cannot write to stdout: ${err.message}`));
    };
    remote.onerror = (err) => log(err.message);
    local.onerror = (err) => log(`stdin: ${err.message}`);
    local.onclose = async () => {
      if (closing) return;
      closing = true;
      await Promise.allSettled([...inFlight]);
      await remote.close();
      done();
    };

    // The SDK's stdio transport does not watch for end of input; without this the bridge would outlive its client.
    process.stdin.once("end", () => void local.close());
    remote
      .start()
      .then(() => local.start())
      .catch(fail);
  });
}
