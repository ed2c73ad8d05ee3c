// A fake Discord Gateway (v10, JSON encoding, no compression) for tests, on 127.0.0.1 only.
//
//   const gw = await startFakeGateway({ botToken: "test-bot-token" });
//   fakeDiscord.gatewayUrl = gw.url;       // GET /gateway/bot of test/fakes/discord.ts points here
//   gw.dispatch("MESSAGE_CREATE", {...});  // to every live session (buffered while disconnected)
//   await gw.close();
//
// What it does, as Discord documents it (https://discord.com/developers/docs/events/gateway):
//   HELLO on connect; IDENTIFY → READY (+ GUILD_CREATE per guild, with its active threads);
//   heartbeat (op 1) → HEARTBEAT_ACK (op 11); RESUME (op 6) → the missed events, then RESUMED;
//   op 7 RECONNECT and op 9 INVALID_SESSION on request; close 4004 for a wrong token and
//   4014 when the message-content intent is asked for but not allowed.
// Controls for tests: drop() cuts every connection abnormally (the client resumes);
// reconnect() sends op 7; invalidate(resumable) sends op 9; replayAll makes a RESUME replay
// every event of the session, including ones already delivered (to prove dedupe downstream).

import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

export const GatewayOp = { Dispatch: 0, Heartbeat: 1, Identify: 2, Resume: 6, Reconnect: 7, InvalidSession: 9, Hello: 10, HeartbeatAck: 11 } as const;
const MESSAGE_CONTENT_INTENT = 1 << 15;

export interface FakeThread {
  id: string;
  parent_id: string;
  owner_id: string;
  guild_id: string;
}

export interface FakeGatewayOptions {
  botToken?: string;
  botUserId?: string;
  /** Whether the application may use the privileged message-content intent. */
  messageContentAllowed?: boolean;
  heartbeatIntervalMs?: number;
}

interface Session {
  id: string;
  seq: number;
  events: { s: number; t: string; d: unknown }[];
  socket: WebSocket | null;
}

export interface FakeGateway {
  url: string;
  /** Identifies seen so far (a RESUME is not one). */
  identifies: number;
  resumes: number;
  /** Intents of the last IDENTIFY. */
  lastIntents: number | null;
  /** Open connections that have identified or resumed. */
  readonly liveSessions: number;
  guilds: { id: string; threads: FakeThread[] }[];
  replayAll: boolean;
  dispatch(t: string, d: unknown): void;
  drop(): void;
  reconnect(): void;
  invalidate(resumable: boolean): void;
  /** Resolves when at least `n` sessions are live (identified or resumed and connected). */
  waitForSessions(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeGateway(opts: FakeGatewayOptions = {}): Promise<FakeGateway> {
  const botToken = opts.botToken ?? "test-bot-token";
  const botUserId = opts.botUserId ?? "900000000000000009";
  const heartbeatInterval = opts.heartbeatIntervalMs ?? 41_250;
  const sessions = new Map<string, Session>();
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  const { port } = server.address() as AddressInfo;
  let counter = 0;

  const send = (ws: WebSocket, payload: object) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(payload));
  const emit = (session: Session, t: string, d: unknown) => {
    const s = ++session.seq;
    session.events.push({ s, t, d });
    if (session.events.length > 1_000) session.events.shift();
    if (session.socket) send(session.socket, { op: GatewayOp.Dispatch, t, s, d });
  };

  server.on("connection", (ws) => {
    let session: Session | null = null;
    send(ws, { op: GatewayOp.Hello, d: { heartbeat_interval: heartbeatInterval } });
    ws.on("message", (raw) => {
      const msg = JSON.parse(String(raw)) as { op: number; d: any };
      switch (msg.op) {
        case GatewayOp.Heartbeat:
          send(ws, { op: GatewayOp.HeartbeatAck });
          break;
        case GatewayOp.Identify: {
          gw.identifies += 1;
          gw.lastIntents = Number(msg.d?.intents ?? 0);
          if (msg.d?.token !== botToken && msg.d?.token !== `Bot ${botToken}`) return ws.close(4004, "Authentication failed.");
          if (gw.lastIntents & MESSAGE_CONTENT_INTENT && opts.messageContentAllowed === false) return ws.close(4014, "Disallowed intent(s).");
          session = { id: `session-${++counter}`, seq: 0, events: [], socket: ws };
          sessions.set(session.id, session);
          emit(session, "READY", {
            v: 10,
            user: { id: botUserId, username: "loop", discriminator: "0", bot: true, global_name: null, avatar: null },
            guilds: gw.guilds.map((g) => ({ id: g.id, unavailable: true })),
            session_id: session.id,
            resume_gateway_url: gw.url,
            shard: [0, 1],
            application: { id: "900000000000000001", flags: 0 },
          });
          for (const g of gw.guilds) emit(session, "GUILD_CREATE", { id: g.id, name: `guild-${g.id}`, channels: [], threads: g.threads, members: [], unavailable: false });
          break;
        }
        case GatewayOp.Resume: {
          const known = sessions.get(String(msg.d?.session_id));
          if (!known || msg.d?.token !== botToken && msg.d?.token !== `Bot ${botToken}`) {
            send(ws, { op: GatewayOp.InvalidSession, d: false });
            break;
          }
          gw.resumes += 1;
          known.socket?.terminate();
          known.socket = ws;
          session = known;
          const from = gw.replayAll ? 0 : Number(msg.d?.seq ?? 0);
          for (const e of known.events) if (e.s > from) send(ws, { op: GatewayOp.Dispatch, t: e.t, s: e.s, d: e.d });
          emit(known, "RESUMED", {});
          break;
        }
      }
    });
    ws.on("close", () => {
      if (session && session.socket === ws) session.socket = null;
    });
  });

  const live = () => [...sessions.values()].filter((s) => s.socket && s.socket.readyState === s.socket.OPEN);
  const gw: FakeGateway = {
    url: `ws://127.0.0.1:${port}`,
    identifies: 0,
    resumes: 0,
    lastIntents: null,
    get liveSessions() {
      return live().length;
    },
    guilds: [],
    replayAll: false,
    dispatch(t, d) {
      // Every session that could still resume gets it: a live one at once, a dropped one on RESUME.
      for (const s of sessions.values()) emit(s, t, d);
    },
    drop() {
      for (const s of sessions.values()) s.socket?.terminate();
    },
    reconnect() {
      for (const s of live()) send(s.socket!, { op: GatewayOp.Reconnect, d: null });
    },
    invalidate(resumable) {
      for (const s of live()) {
        if (!resumable) sessions.delete(s.id);
        send(s.socket!, { op: GatewayOp.InvalidSession, d: resumable });
      }
    },
    async waitForSessions(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (live().length < n) {
        if (Date.now() > deadline) throw new Error(`fake gateway: ${live().length} live session(s), wanted ${n}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of server.clients) c.terminate();
        server.close(() => resolve());
      }),
  };
  return gw;
}
