import { Hono } from "hono";
import { RegisterRunner } from "../../../protocol/api.ts";
import { deleteRunner, listRunners, registerRunner } from "../../../core/domain/runners.ts";
import type { AppEnv } from "../../http/types.ts";
import { readBody } from "../../http/validate.ts";

export const runnerAdminRoutes = new Hono<AppEnv>()
  .post("/", async (c) => c.json(await registerRunner(c.var.domain, await readBody(c, RegisterRunner)), 201))
  .get("/", async (c) => c.json({ runners: await listRunners(c.var.domain) }))
  .delete("/:id", async (c) => {
    await deleteRunner(c.var.domain, c.req.param("id"));
    return c.body(null, 204);
  });
