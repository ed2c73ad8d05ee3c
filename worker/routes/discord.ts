/**
 * /discord/interactions: Discord's HTTP interactions endpoint (set it as the application's
 * Interactions Endpoint URL). The signature is checked on the raw body before anything is
 * parsed; a request that fails it gets 401 and nothing else happens.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { db } from "../../core/db/client.ts";
import { handleInteraction } from "../discord/answer-interaction.ts";
import { Interaction } from "../discord/interaction-payload.ts";
import { verifyInteraction } from "../discord/verify.ts";
import { config, type Env } from "../../core/env.ts";
import { AppError } from "../../core/errors.ts";
import { log } from "../../core/log.ts";

/** Interaction payloads are a few KiB; resolved users and messages can add some. */
const MAX_INTERACTION_BYTES = 256 * 1024;

export const discordRoutes = new Hono<{ Bindings: Env }>().post(
  "/interactions",
  bodyLimit({
    maxSize: MAX_INTERACTION_BYTES,
    onError: () => {
      throw new AppError(413, "body_too_large", `Interaction bodies are limited to ${MAX_INTERACTION_BYTES / 1024} KiB.`);
    },
  }),
  async (c) => {
    const cfg = config(c.env);
    if (!cfg.discordPublicKey) throw new AppError(503, "discord_not_configured", "DISCORD_PUBLIC_KEY is not set on the Worker.");
    const raw = await c.req.text();
    const failure = await verifyInteraction(cfg.discordPublicKey, raw, c.req.header("x-signature-ed25519"), c.req.header("x-signature-timestamp"));
    if (failure) {
      log.info("discord: refused an interaction", { reason: failure });
      return c.json({ error: { code: "invalid_signature", message: `The request signature is ${failure.replace("_", " ")}.` } }, 401);
    }
    let interaction: Interaction;
    try {
      interaction = Interaction.parse(JSON.parse(raw));
    } catch {
      // Signed by Discord yet not an interaction we can read: a Discord change, not an attack.
      log.warn("discord: unreadable interaction", { bytes: raw.length });
      throw new AppError(400, "invalid_interaction", "The interaction payload could not be read.");
    }
    return c.json(await handleInteraction(db(c.env.DB), c.env, cfg, interaction, (work) => c.executionCtx.waitUntil(work)));
  },
);
