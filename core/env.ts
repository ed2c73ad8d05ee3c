/**
 * The Worker's bindings, and its configuration parsed once from vars and secrets.
 * Modules receive a Config; nothing reads env deep inside.
 */
import { z } from "zod";
import { RELAY_LEASE_TTL_MS } from "../protocol/relay.ts";
import { setLogLevel } from "./log.ts";
import type { DurableObjectBindings } from "../durable-objects/contracts.ts";

/** The DO bindings are typed by their contract (durable-objects/contracts.ts), never by the classes. */
export interface Env extends DurableObjectBindings {
  DB: D1Database;
  ADMIN_TOKEN?: string;
  DISCORD_PUBLIC_KEY?: string;
  DISCORD_APP_ID?: string;
  DISCORD_BOT_TOKEN?: string;
  DISCORD_API_BASE?: string;
  DISCORD_GUILD_ID?: string;
  MIN_INTERVAL_SECONDS?: string;
  EVENT_RETENTION_DAYS?: string;
  LEASE_TTL_SECONDS?: string;
  RELAY_LEASE_TTL_SECONDS?: string;
  DISCORD_DM_USERS?: string;
  PUBLIC_URL?: string;
  LOG_LEVEL?: string;
}

const ConfigSchema = z.object({
  adminToken: z.string().min(16, "ADMIN_TOKEN must be at least 16 characters").optional(),
  discordApiBase: z.url().default("https://discord.com/api/v10"),
  /** The application's Ed25519 public key (hex), from the developer portal. */
  discordPublicKey: z.string().regex(/^[0-9a-fA-F]{64}$/, "DISCORD_PUBLIC_KEY must be 64 hex characters").optional(),
  discordBotToken: z.string().min(1).optional(),
  /** When set, POST /api/channels creates a Discord channel in this guild for a new directory. */
  discordGuildId: z.string().regex(/^\d{17,20}$/, "DISCORD_GUILD_ID must be a Discord snowflake").optional(),
  /** Discord user ids who may DM Loop without owning a channel (DISCORD_DM_USERS, comma-separated). */
  discordDmUsers: z
    .string()
    .default("")
    .transform((s) => s.split(/[\s,]+/).filter(Boolean))
    .pipe(z.array(z.string().regex(/^\d{17,20}$/, "DISCORD_DM_USERS must list Discord user ids, comma-separated"))),
  minIntervalMs: z.coerce.number().int().positive().default(60).transform((s) => s * 1000),
  eventRetentionMs: z.coerce.number().positive().default(30).transform((d) => d * 86_400_000),
  /** How long a runner's lease lasts without a heartbeat. */
  leaseTtlMs: z.coerce.number().positive().default(60).transform((s) => s * 1000),
  /** How long the conversation relay's lease lasts without a renewal (protocol/relay.ts). */
  relayLeaseTtlMs: z.coerce.number().positive().default(RELAY_LEASE_TTL_MS / 1000).transform((s) => s * 1000),
  /** The Worker's public URL, for the MCP URL handed to agents; the request's origin when unset. */
  publicUrl: z.url().transform((u) => u.replace(/\/+$/, "")).optional(),
});
export type Config = z.infer<typeof ConfigSchema>;

const cache = new WeakMap<Env, Config>();

/** Parses the configuration once per env object; a bad var fails loudly, naming itself. */
export function config(env: Env): Config {
  let parsed = cache.get(env);
  if (!parsed) {
    const result = ConfigSchema.safeParse({
      adminToken: env.ADMIN_TOKEN || undefined,
      discordApiBase: env.DISCORD_API_BASE || undefined,
      discordPublicKey: env.DISCORD_PUBLIC_KEY || undefined,
      discordBotToken: env.DISCORD_BOT_TOKEN || undefined,
      discordGuildId: env.DISCORD_GUILD_ID || undefined,
      discordDmUsers: env.DISCORD_DM_USERS || undefined,
      minIntervalMs: env.MIN_INTERVAL_SECONDS || undefined,
      eventRetentionMs: env.EVENT_RETENTION_DAYS || undefined,
      leaseTtlMs: env.LEASE_TTL_SECONDS || undefined,
      relayLeaseTtlMs: env.RELAY_LEASE_TTL_SECONDS || undefined,
      publicUrl: env.PUBLIC_URL || undefined,
    });
    if (!result.success) {
      throw new Error(`Invalid Worker configuration: ${z.prettifyError(result.error)}`);
    }
    parsed = result.data;
    cache.set(env, parsed);
    setLogLevel(env.LOG_LEVEL);
  }
  return parsed;
}

export const VERSION = "0.1.0";
