import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { db } from "../../db/client.ts";
import { VERSION } from "../../env.ts";
import type { AppEnv } from "../../http/types.ts";

export const healthRoutes = new Hono<AppEnv>().get("/", async (c) => {
  let d1 = true;
  try {
    await db(c.env.DB).run(sql`select 1`);
  } catch {
    d1 = false;
  }
  return c.json({ ok: d1, version: VERSION, d1 }, d1 ? 200 : 503);
});
