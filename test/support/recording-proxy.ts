/**
 * An HTTP proxy on 127.0.0.1 that records every MCP request it forwards (verb, JSON-RPC
 * method, MCP-Protocol-Version header), for tests that count what a real MCP client sends to
 * the Worker. Requests are forwarded byte for byte with their Host header, so the Worker sees
 * them as sent; the target can be set after the proxy is up (the Worker's PUBLIC_URL may have
 * to name the proxy before the Worker starts).
 */
import { createServer, request as forward, type IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { MCP_PATH } from "../../protocol/mcp.ts";

export interface SeenMcpRequest {
  verb: string;
  /** The JSON-RPC method; "(response)" for a posted response, "" for a body-less request. */
  method: string;
  version: string | undefined;
}

export interface RecordingProxy {
  url: string;
  seen: SeenMcpRequest[];
  forwardTo(url: string): void;
  close(): Promise<void>;
}

export async function startRecordingProxy(target?: string): Promise<RecordingProxy> {
  const seen: SeenMcpRequest[] = [];
  let port = target ? Number(new URL(target).port) : 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url?.startsWith(MCP_PATH)) {
        let method = "";
        try {
          method = (JSON.parse(body.toString()) as { method?: string }).method ?? "(response)";
        } catch {}
        seen.push({ verb: req.method!, method, version: req.headers["mcp-protocol-version"] as string | undefined });
      }
      const upstream = forward({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: req.headers as IncomingHttpHeaders }, (up) => {
        res.writeHead(up.statusCode!, up.headers);
        up.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    forwardTo: (url) => void (port = Number(new URL(url).port)),
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
