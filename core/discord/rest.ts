/**
 * The one Discord REST client the Worker uses (interaction webhooks, channel messages,
 * threads, guild channels). It never sleeps and never throws on an HTTP answer: every call
 * returns a RestResult carrying what Discord said about rate limits, so the caller (the
 * live-message pump in ChannelSession, which must not block) decides when to try again.
 *
 * Rate limits (https://discord.com/developers/docs/topics/rate-limits): a 429 carries
 * `retry_after` in seconds (body, and the Retry-After header); every answer carries the
 * route's bucket state in X-RateLimit-Remaining / X-RateLimit-Reset-After. A call made
 * while Remaining is 0 would be a 429, so `nextCallAt` waits out Reset-After first.
 */
import type {
  APIChannel,
  APIMessage,
  APIThreadChannel,
  RESTPatchAPIChannelMessageJSONBody,
  RESTPatchAPIWebhookWithTokenMessageJSONBody,
  RESTPostAPIChannelMessageJSONBody,
  RESTPostAPIChannelThreadsJSONBody,
  RESTPostAPIGuildChannelJSONBody,
  RESTPostAPIWebhookWithTokenJSONBody,
} from "discord-api-types/v10";

/** The routes Loop calls (as discord-api-types' Routes spells them). */
const Routes = {
  webhookMessage: (app: string, token: string, id: string) => `/webhooks/${app}/${token}/messages/${id}`,
  webhook: (app: string, token: string) => `/webhooks/${app}/${token}`,
  channelMessages: (channel: string) => `/channels/${channel}/messages`,
  channelMessage: (channel: string, message: string) => `/channels/${channel}/messages/${message}`,
  threads: (channel: string) => `/channels/${channel}/threads`,
  channel: (channel: string) => `/channels/${channel}`,
  typing: (channel: string) => `/channels/${channel}/typing`,
  guildChannels: (guild: string) => `/guilds/${guild}/channels`,
};

export interface RateLimit {
  bucket: string | null;
  remaining: number | null;
  resetAfterMs: number | null;
}

export type RestResult<T> =
  | { ok: true; status: number; data: T; limit: RateLimit }
  | {
      ok: false;
      /** 0 when the request never got an answer (network error). */
      status: number;
      /** Discord's JSON error code (e.g. 50027 invalid webhook token), when it sent one. */
      code: number | null;
      message: string;
      /** Set on 429: how long Discord asked us to wait. */
      retryAfterMs: number | null;
      limit: RateLimit;
    };

export interface DiscordRestOptions {
  /** e.g. https://discord.com/api/v10 (DISCORD_API_BASE). */
  base: string;
  botToken?: string | undefined;
}

/** Discord's own error codes we act on. */
export const DiscordErrorCode = {
  UnknownChannel: 10003,
  UnknownMessage: 10008,
  UnknownWebhook: 10015,
  InvalidWebhookToken: 50027,
} as const;

const NO_LIMIT: RateLimit = { bucket: null, remaining: null, resetAfterMs: null };

export class DiscordRest {
  readonly #base: string;
  readonly #botToken: string | undefined;

  constructor(opts: DiscordRestOptions) {
    this.#base = opts.base.replace(/\/+$/, "");
    this.#botToken = opts.botToken;
  }

  /** Channel, thread and guild calls need the bot token; webhook calls do not. */
  get hasBotToken(): boolean {
    return Boolean(this.#botToken);
  }

  editOriginal(appId: string, token: string, body: RESTPatchAPIWebhookWithTokenMessageJSONBody): Promise<RestResult<APIMessage>> {
    return this.#call("PATCH", Routes.webhookMessage(appId, token, "@original"), body, false);
  }

  /** A follow-up message on an interaction (valid while its token is: 15 minutes). */
  followup(appId: string, token: string, body: RESTPostAPIWebhookWithTokenJSONBody): Promise<RestResult<APIMessage>> {
    return this.#call("POST", Routes.webhook(appId, token), body, false);
  }

  createMessage(channelId: string, body: RESTPostAPIChannelMessageJSONBody): Promise<RestResult<APIMessage>> {
    return this.#call("POST", Routes.channelMessages(channelId), body, true);
  }

  editMessage(channelId: string, messageId: string, body: RESTPatchAPIChannelMessageJSONBody): Promise<RestResult<APIMessage>> {
    return this.#call("PATCH", Routes.channelMessage(channelId, messageId), body, true);
  }

  /** Shows "Loop is typing…" in the channel for 10 s, or until the bot's next message there. */
  triggerTyping(channelId: string): Promise<RestResult<null>> {
    return this.#call("POST", Routes.typing(channelId), undefined, true);
  }

  /** A thread with no starter message (POST /channels/{id}/threads). */
  startThread(channelId: string, body: RESTPostAPIChannelThreadsJSONBody): Promise<RestResult<APIThreadChannel>> {
    return this.#call("POST", Routes.threads(channelId), body, true);
  }

  /**
   * Deletes a channel or thread (DELETE /channels/{id}); a thread needs Manage Threads. An
   * answer of 404 (Unknown Channel) means it is gone already.
   */
  deleteChannel(channelId: string): Promise<RestResult<APIChannel>> {
    return this.#call("DELETE", Routes.channel(channelId), undefined, true);
  }

  createGuildChannel(guildId: string, body: RESTPostAPIGuildChannelJSONBody): Promise<RestResult<APIChannel>> {
    return this.#call("POST", Routes.guildChannels(guildId), body, true);
  }

  async #call<T>(method: string, route: string, body: unknown, bot: boolean): Promise<RestResult<T>> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (bot) {
      if (!this.#botToken) {
        return { ok: false, status: 0, code: null, message: "DISCORD_BOT_TOKEN is not set on the Worker.", retryAfterMs: null, limit: NO_LIMIT };
      }
      headers.authorization = `Bot ${this.#botToken}`;
    }
    let res: Response;
    try {
      res = await fetch(`${this.#base}${route}`, { method, headers, body: JSON.stringify(body) });
    } catch (err) {
      return { ok: false, status: 0, code: null, message: `Discord unreachable: ${String(err)}`, retryAfterMs: null, limit: NO_LIMIT };
    }
    const limit = readLimit(res.headers);
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Proxies in front of Discord answer HTML on some failures; keep the status.
    }
    if (res.ok) return { ok: true, status: res.status, data: json as T, limit };
    const err = (json ?? {}) as { code?: unknown; message?: unknown; retry_after?: unknown };
    let retryAfterMs: number | null = null;
    if (res.status === 429) {
      const seconds = typeof err.retry_after === "number" ? err.retry_after : Number(res.headers.get("retry-after"));
      retryAfterMs = Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1000) : 1000;
    }
    return {
      ok: false,
      status: res.status,
      code: typeof err.code === "number" ? err.code : null,
      message: typeof err.message === "string" ? err.message : `HTTP ${res.status}`,
      retryAfterMs,
      limit,
    };
  }
}

function readLimit(h: Headers): RateLimit {
  const num = (name: string): number | null => {
    const v = h.get(name);
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  };
  const resetAfter = num("x-ratelimit-reset-after");
  return { bucket: h.get("x-ratelimit-bucket"), remaining: num("x-ratelimit-remaining"), resetAfterMs: resetAfter === null ? null : Math.ceil(resetAfter * 1000) };
}

/** The earliest time the next call on the same route may go, after `result` came back at `now`. */
export function nextCallAt(result: RestResult<unknown>, now: number): number {
  if (!result.ok && result.retryAfterMs !== null) return now + result.retryAfterMs;
  if (result.limit.remaining === 0 && result.limit.resetAfterMs !== null) return now + result.limit.resetAfterMs;
  return now;
}

/**
 * For callers that answer a person and can afford a short wait (MCP's send_message,
 * creating a guild channel): one retry after a 429 if Discord asks for at most maxWaitMs.
 */
export async function withRetryOn429<T>(call: () => Promise<RestResult<T>>, maxWaitMs = 2_000): Promise<RestResult<T>> {
  const first = await call();
  if (first.ok || first.retryAfterMs === null || first.retryAfterMs > maxWaitMs) return first;
  await new Promise((r) => setTimeout(r, first.retryAfterMs!));
  return call();
}

export function discordRest(cfg: { discordApiBase: string; discordBotToken?: string | undefined }): DiscordRest {
  return new DiscordRest({ base: cfg.discordApiBase, botToken: cfg.discordBotToken });
}
