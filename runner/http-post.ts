/**
 * POST a JSON body over node:http(s) with keep-alive. The runner uses this rather than
 * fetch(): fetch loads undici and compiles its llhttp WebAssembly, ~15 MB of resident
 * memory that an idle daemon (the goal is ≤ 80 MB) cannot spare for four POST routes.
 */
import type * as Http from "node:http";
import type * as Https from "node:https";
import { createRequire } from "node:module";

// require(), not `import`: an ESM import of node:http reads every export, and its lazy
// WebSocket export pulls in undici all the same.
const require = createRequire(import.meta.url);
const http: typeof Http = require("node:http");
const https: typeof Https = require("node:https");

export interface HttpResponse {
  status: number;
  body: string;
  /** Response headers, lower-cased names (node:http's own). */
  headers?: Record<string, string | string[] | undefined>;
}

export type PostJson = (url: string, headers: Record<string, string>, body: string, signal: AbortSignal) => Promise<HttpResponse>;

/** Longest answer read: a Job (prompt ≤ 32,000 characters) is far below it. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 32 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 32 }),
};

export const postJson: PostJson = (url, headers, body, signal) =>
  new Promise<HttpResponse>((resolve, reject) => {
    const target = new URL(url);
    const lib = target.protocol === "https:" ? https : http;
    const agent = target.protocol === "https:" ? agents["https:"] : agents["http:"];
    const req = lib.request(
      target,
      { method: "POST", agent, signal, headers: { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) return void req.destroy(new Error(`answer larger than ${MAX_RESPONSE_BYTES} bytes`));
          chunks.push(chunk);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
