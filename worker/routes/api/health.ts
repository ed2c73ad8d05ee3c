import { Hono } from "hono";
import { db } from "../../../core/db/client.ts";
import { relayHolder } from "../../../core/domain/relay.ts";
import { rescuedSince } from "../../../core/domain/sweep.ts";
import { VERSION } from "../../../core/env.ts";
import type { AppEnv } from "../../http/types.ts";

const HOUR_MS = 3_600_000;

export const healthRoutes = new Hono<AppEnv>().get("/", async (c) => {
  try {
    const [rescued, relay] = await Promise.all([rescuedSince(db(c.env.DB), Date.now() - HOUR_MS), relayHolder(c.env)]);
    return c.json({ ok: true, version: VERSION, d1: true, sweep_rescued_last_hour: rescued, relay });
  } catch {
    return c.json({ ok: false, version: VERSION, d1: false, sweep_rescued_last_hour: null, relay: null }, 503);
  }
});
