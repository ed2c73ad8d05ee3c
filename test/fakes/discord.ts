// A fake Discord REST API (v10) for tests, on 127.0.0.1 only.
//
//   const fake = await startFakeDiscord({ botToken: "test-bot-token" });
//   // point DISCORD_API_BASE at fake.url ("http://127.0.0.1:<port>/api/v10")
//   fake.calls            // every call, in order
//   await fake.close();
//
// It serves what Loop uses: interaction webhooks (PATCH …/messages/@original, PATCH
// …/messages/{id}, POST follow-ups), channel messages (POST, PATCH), threads (POST
// /channels/{id}/threads; DELETE /channels/{id} of a thread it made, 404 for any other,
// each deletion recorded in `deletedThreads`), guild channels (POST /guilds/{id}/channels) and application
// commands (GET/PUT, global and per guild), the typing indicator (POST /channels/{id}/typing)
// and GET /gateway/bot (pointing at `gatewayUrl`, the fake Gateway of test/fakes/discord-gateway.ts).
// Messages the bot posts carry the bot as author (BOT_USER_ID) and any message_reference, and
// are handed to `onMessage` (threads it creates to `onThread`), so a test can echo them over
// the fake Gateway as Discord does.
// Channel, guild, gateway and application routes need "Authorization: Bot <botToken>", as
// Discord's do; webhook routes need none.
//
// Worker tests run inside workerd and cannot reach this object, so it is also driven over
// HTTP on the same port, outside /api:
//   GET  /__calls?match=<substring>   the calls whose path contains <substring>
//   POST /__reset                      forget calls and rules
//   POST /__ratelimit {match, count, retry_after, global?}
//        the next `count` calls whose path contains `match` answer 429 with retry_after (seconds)
//   POST /__exhaust {match, count, reset_after}
//        the next `count` matching calls succeed but say X-RateLimit-Remaining: 0, Reset-After
//   POST /__expire {match}             matching webhook calls answer 401 (code 50027), for good
//   POST /__fail {match, count, status}
//        the next `count` calls whose path contains `match` answer `status` (e.g. 500, 403)
//   GET  /__deleted_threads            {threads: [{id, parent_id, name, deleted_at}]}, in order
// Rules match by substring so tests running in parallel (one interaction token or channel
// id each) never trip over each other's.

import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  seq: number;
  /** Epoch milliseconds when the call arrived. */
  at: number;
  method: string;
  /** The path under /api/v10, e.g. "/channels/123/messages". */
  path: string;
  /** "bot" when it carried the right bot token, "wrong" for any other Authorization, null for none. */
  auth: "bot" | "wrong" | null;
  body: any;
  status: number;
  /** What the fake answered (the created message, thread or channel, with its id). */
  response: any;
}

interface Rule {
  kind: "ratelimit" | "exhaust" | "expire" | "fail";
  match: string;
  /** Uses left; Infinity for expire. */
  count: number;
  seconds: number;
  global: boolean;
  /** For "fail": the status to answer. */
  status: number;
}

/** A thread the bot deleted (DELETE /channels/{id}). */
export interface DeletedThread {
  id: string;
  parent_id: string;
  name: string;
  /** Epoch milliseconds. */
  deleted_at: number;
}

/** The bot's own user id in the fakes (READY's user, the author of what it posts). */
export const BOT_USER_ID = "900000000000000009";

export interface FakeDiscord {
  /** The API base to give Loop: http://127.0.0.1:<port>/api/v10 */
  url: string;
  /** What GET /gateway/bot answers as the Gateway's URL. */
  gatewayUrl: string;
  /** Called with every message the bot creates in a channel. */
  onMessage: ((message: any) => void) | null;
  /** Called with every thread the bot creates (POST /channels/{id}/threads). */
  onThread: ((thread: any) => void) | null;
  origin: string;
  calls: RecordedCall[];
  /** Threads deleted through the API, in order. */
  deletedThreads: DeletedThread[];
  reset(): void;
  close(): Promise<void>;
}

const API = "/api/v10";
const DISCORD_EPOCH = 1_420_070_400_000n;

export async function startFakeDiscord(opts: { botToken?: string } = {}): Promise<FakeDiscord> {
  const botToken = opts.botToken ?? "test-bot-token";
  const calls: RecordedCall[] = [];
  let rules: Rule[] = [];
  let counter = 0n;
  const messages = new Map<string, any>();
  const originals = new Map<string, any>();
  const commands = new Map<string, any[]>();
  /** Threads the bot made that still exist, by id. */
  const threads = new Map<string, any>();
  const deletedThreads: DeletedThread[] = [];

  const snowflake = () => String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | (counter++ & 0x3fffffn));

  function takeRule(kind: Rule["kind"], path: string): Rule | undefined {
    const rule = rules.find((r) => r.kind === kind && r.count > 0 && path.includes(r.match));
    if (rule && rule.count !== Infinity) rule.count -= 1;
    return rule;
  }

  function answer(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  }

  function route(method: string, path: string, auth: RecordedCall["auth"], body: any): { status: number; body: unknown } {
    const notFound = { status: 404, body: { message: "404: Not Found", code: 0 } };
    const unauthorized = { status: 401, body: { message: "401: Unauthorized", code: 0 } };
    const message = (channelId: string, b: any, id = snowflake()) => ({
      id,
      channel_id: channelId,
      type: 0,
      content: b?.content ?? "",
      components: b?.components ?? [],
      flags: b?.flags ?? 0,
      timestamp: new Date().toISOString(),
      author: { id: BOT_USER_ID, username: "loop", bot: true },
      ...(b?.message_reference ? { message_reference: { ...b.message_reference, channel_id: channelId } } : {}),
    });
    let m: RegExpExecArray | null;

    if ((m = /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(@original|\d+)$/.exec(path)) && method === "PATCH") {
      const [, , token, id] = m;
      if (id === "@original") {
        const prev = originals.get(token!) ?? message("0", {}, snowflake());
        const next = { ...prev, ...pick(body) };
        originals.set(token!, next);
        return { status: 200, body: next };
      }
      const prev = messages.get(id!);
      if (!prev) return { status: 404, body: { message: "Unknown Message", code: 10008 } };
      const next = { ...prev, ...pick(body) };
      messages.set(id!, next);
      return { status: 200, body: next };
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)$/.exec(path)) && method === "POST") {
      const msg = message("0", body);
      messages.set(msg.id, msg);
      return { status: 200, body: msg };
    }

    if (path.startsWith("/channels/") || path.startsWith("/guilds/") || path.startsWith("/applications/") || path.startsWith("/gateway/")) {
      if (auth !== "bot") return unauthorized;
    }
    if (path === "/gateway/bot" && method === "GET") {
      return { status: 200, body: { url: fake.gatewayUrl, shards: 1, session_start_limit: { total: 1000, remaining: 999, reset_after: 86_400_000, max_concurrency: 1 } } };
    }
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path)) && method === "POST") {
      if (!body?.content && !body?.embeds?.length) return { status: 400, body: { message: "Cannot send an empty message", code: 50006 } };
      const msg = message(m[1]!, body);
      messages.set(msg.id, msg);
      fake.onMessage?.(msg);
      return { status: 200, body: msg };
    }
    if ((m = /^\/channels\/(\d+)\/typing$/.exec(path)) && method === "POST") {
      return { status: 204, body: undefined };
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)$/.exec(path)) && method === "PATCH") {
      const prev = messages.get(m[2]!);
      if (!prev || prev.channel_id !== m[1]) return { status: 404, body: { message: "Unknown Message", code: 10008 } };
      const next = { ...prev, ...pick(body) };
      messages.set(m[2]!, next);
      return { status: 200, body: next };
    }
    if ((m = /^\/channels\/(\d+)\/threads$/.exec(path)) && method === "POST") {
      const thread = { id: snowflake(), type: body?.type ?? 11, name: body?.name, parent_id: m[1], owner_id: BOT_USER_ID };
      threads.set(thread.id, thread);
      fake.onThread?.(thread);
      return { status: 201, body: thread };
    }
    if ((m = /^\/channels\/(\d+)$/.exec(path)) && method === "DELETE") {
      const thread = threads.get(m[1]!);
      if (!thread) return { status: 404, body: { message: "Unknown Channel", code: 10003 } };
      threads.delete(thread.id);
      deletedThreads.push({ id: thread.id, parent_id: thread.parent_id, name: thread.name, deleted_at: Date.now() });
      return { status: 200, body: thread };
    }
    if ((m = /^\/guilds\/(\d+)\/channels$/.exec(path)) && method === "POST") {
      return { status: 201, body: { id: snowflake(), type: body?.type ?? 0, name: String(body?.name ?? "").toLowerCase().replace(/\s+/g, "-"), guild_id: m[1], topic: body?.topic ?? null } };
    }
    if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path))) {
      const key = `${m[1]}/${m[2] ?? ""}`;
      if (method === "GET") return { status: 200, body: commands.get(key) ?? [] };
      if (method === "PUT") {
        if (!Array.isArray(body)) return { status: 400, body: { message: "Invalid Form Body", code: 50035 } };
        const before = new Map((commands.get(key) ?? []).map((c) => [c.name, c]));
        const stored = body.map((c: any) => ({
          ...c,
          id: before.get(c.name)?.id ?? snowflake(),
          application_id: m![1],
          ...(m![2] ? { guild_id: m![2] } : {}),
          version: snowflake(),
          type: c.type ?? 1,
        }));
        commands.set(key, stored);
        return { status: 200, body: stored };
      }
    }
    return notFound;
  }

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const text = await readBody(req);
    let body: any = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }

    // ---- control -----------------------------------------------------------------------
    if (url.pathname === "/__calls") {
      const match = url.searchParams.get("match") ?? "";
      return answer(res, 200, { calls: calls.filter((c) => c.path.includes(match)) });
    }
    if (url.pathname === "/__deleted_threads") {
      return answer(res, 200, { threads: deletedThreads });
    }
    if (url.pathname === "/__reset") {
      fake.reset();
      return answer(res, 200, { ok: true });
    }
    if (url.pathname === "/__ratelimit" || url.pathname === "/__exhaust" || url.pathname === "/__expire" || url.pathname === "/__fail") {
      const kind = url.pathname.slice(3) as Rule["kind"];
      rules.push({
        kind,
        match: String(body?.match ?? ""),
        count: kind === "expire" ? Infinity : Number(body?.count ?? 1),
        seconds: Number(body?.retry_after ?? body?.reset_after ?? 1),
        global: Boolean(body?.global),
        status: Number(body?.status ?? 500),
      });
      return answer(res, 200, { ok: true });
    }

    // ---- the API -----------------------------------------------------------------------
    if (!url.pathname.startsWith(API)) return answer(res, 404, { message: "404: Not Found", code: 0 });
    const path = url.pathname.slice(API.length);
    const header = req.headers.authorization;
    const auth: RecordedCall["auth"] = header === undefined ? null : header === `Bot ${botToken}` ? "bot" : "wrong";
    const method = req.method ?? "GET";
    const call: RecordedCall = { seq: calls.length + 1, at: Date.now(), method, path, auth, body, status: 0, response: null };
    calls.push(call);

    const bucket = { "x-ratelimit-bucket": bucketOf(path), "x-ratelimit-limit": "5" };
    const limited = takeRule("ratelimit", path);
    if (limited) {
      call.status = 429;
      return answer(
        res,
        429,
        { message: "You are being rate limited.", retry_after: limited.seconds, global: limited.global },
        { ...bucket, "retry-after": String(Math.ceil(limited.seconds)), "x-ratelimit-remaining": "0", "x-ratelimit-reset-after": String(limited.seconds), ...(limited.global ? { "x-ratelimit-global": "true" } : {}), "x-ratelimit-scope": limited.global ? "global" : "user" },
      );
    }
    const failed = takeRule("fail", path);
    if (failed) {
      call.status = failed.status;
      return answer(res, failed.status, { message: `${failed.status}: failing as the test asked`, code: 0 }, bucket);
    }
    if (path.startsWith("/webhooks/") && takeRule("expire", path)) {
      call.status = 401;
      return answer(res, 401, { message: "Invalid Webhook Token", code: 50027 }, bucket);
    }
    const result = route(method, path, auth, body);
    call.status = result.status;
    call.response = result.body;
    const exhausted = result.status < 400 ? takeRule("exhaust", path) : undefined;
    return answer(res, result.status, result.body, {
      ...bucket,
      "x-ratelimit-remaining": exhausted ? "0" : "4",
      "x-ratelimit-reset-after": exhausted ? String(exhausted.seconds) : "1",
    });
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const fake: FakeDiscord = {
    url: `${origin}${API}`,
    gatewayUrl: "ws://127.0.0.1:1",
    onMessage: null,
    onThread: null,
    origin,
    calls,
    deletedThreads,
    reset() {
      calls.length = 0;
      deletedThreads.length = 0;
      rules = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

/** The fields of a message an edit may change. */
function pick(body: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ["content", "components", "embeds", "flags", "allowed_mentions"]) if (body && k in body) out[k] = body[k];
  return out;
}

/** Discord buckets by route and its major parameter (channel, guild, webhook): message ids do not count. */
function bucketOf(path: string): string {
  return path.replace(/\/messages\/(\d+|@original)$/, "/messages/:id");
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
