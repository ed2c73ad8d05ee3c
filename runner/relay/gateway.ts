/**
 * Discord's Gateway for the relay, through @discordjs/ws (identify, heartbeats, resume,
 * reconnect) and nothing of discord.js' client: no caches beyond the relay's own small
 * ones. GET /gateway/bot goes to `discord_api_base`, so tests point it at a fake.
 *
 * Failures are sorted into what a person must fix and what passes by itself:
 *   4004 (authentication failed): `discord_token` is wrong: fatal, the relay stops;
 *   4014 (disallowed intents): the Message Content intent is off in the developer portal: fatal;
 *   anything else (Discord unreachable, a dropped connection): @discordjs/ws resumes or
 *   reconnects; a failed start is retried by the caller with exponential backoff.
 */
import { REST } from "@discordjs/rest";
import { WebSocketManager, WebSocketShardEvents } from "@discordjs/ws";
import { GatewayCloseCodes, GatewayIntentBits, type GatewayDispatchPayload } from "discord-api-types/v10";
import type { Logger } from "../log.ts";

/** Server messages, DMs, and their text (the privileged Message Content intent); threads via Guilds. */
export const RELAY_INTENTS =
  GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages | GatewayIntentBits.DirectMessages | GatewayIntentBits.MessageContent;

/** Close codes a reconnect cannot fix, with what the person running the relay should do. */
export const FATAL_CLOSE: Record<number, string> = {
  [GatewayCloseCodes.AuthenticationFailed]: "Discord refused discord_token (close code 4004): paste the bot token from the developer portal (Bot → Reset Token)",
  [GatewayCloseCodes.DisallowedIntents]:
    "Discord refused the Message Content intent (close code 4014): enable it in the developer portal (Bot → Privileged Gateway Intents → Message Content Intent)",
  [GatewayCloseCodes.InvalidIntents]: "Discord refused the requested intents (close code 4013)",
};

export interface GatewayOptions {
  token: string;
  /** e.g. https://discord.com/api/v10 */
  apiBase: string;
  log: Logger;
  onDispatch(payload: GatewayDispatchPayload): void;
  /** The connection ended for a reason a reconnect cannot fix. */
  onFatal(reason: string): void;
}

export interface GatewayConnection {
  close(): Promise<void>;
}

/** Connects; rejects when Discord cannot be reached (the caller backs off and retries). */
export async function openGateway(opts: GatewayOptions): Promise<GatewayConnection> {
  const { base, version } = splitApiBase(opts.apiBase);
  // Global fetch, no retries: a failed start is the caller's to retry, with its own backoff.
  const rest = new REST({ api: base, version, retries: 0, timeout: 10_000, makeRequest: fetch as never }).setToken(opts.token);
  const manager = new WebSocketManager({ token: opts.token, intents: RELAY_INTENTS, rest, version });
  let fatal = false;
  manager.on(WebSocketShardEvents.Dispatch, (payload) => {
    try {
      opts.onDispatch(payload);
    } catch (err) {
      opts.log.error("relay: a Gateway event could not be handled", { event: payload.t, error: String(err) });
    }
  });
  manager.on(WebSocketShardEvents.Closed, (code) => {
    const why = FATAL_CLOSE[code];
    if (why && !fatal) {
      fatal = true;
      opts.onFatal(why);
    } else if (!why) {
      opts.log.info("relay: Gateway connection closed; resuming", { code });
    }
  });
  manager.on(WebSocketShardEvents.Resumed, () => opts.log.info("relay: Gateway session resumed", {}));
  manager.on(WebSocketShardEvents.Error, (err) => {
    if (!fatal) opts.log.warn("relay: Gateway error", { error: err.message });
  });
  manager.on(WebSocketShardEvents.Debug, (message) => opts.log.debug("relay: gateway", { message }));
  try {
    await manager.connect();
  } catch (err) {
    await Promise.resolve(manager.destroy()).catch(() => {});
    throw err;
  }
  return {
    async close() {
      await Promise.resolve(manager.destroy({ reason: "relay stopping" })).catch(() => {});
    },
  };
}

/** "https://discord.com/api/v10" → base "https://discord.com/api", version "10". */
export function splitApiBase(apiBase: string): { base: string; version: string } {
  const m = /^(.*?)\/v(\d+)\/?$/.exec(apiBase);
  return m ? { base: m[1]!, version: m[2]! } : { base: apiBase.replace(/\/+$/, ""), version: "10" };
}
