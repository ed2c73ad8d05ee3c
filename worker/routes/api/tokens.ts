import { Hono } from "hono";
import { CreateToken } from "../../../protocol/api.ts";
import { createToken, deleteToken, listTokens } from "../../../core/domain/tokens.ts";
import type { AppEnv } from "../../http/types.ts";
import { readBody } from "../../http/validate.ts";

export const tokenRoutes = new Hono<AppEnv>()
  .post("/", async (c) => c.json(await createToken(c.var.domain, await readBody(c, CreateToken)), 201))
  .get("/", async (c) => c.json({ tokens: await listTokens(c.var.domain) }))
  .delete("/:id", async (c) => {
    await deleteToken(c.var.domain, c.req.param("id"));
    return c.body(null, 204);
  });
