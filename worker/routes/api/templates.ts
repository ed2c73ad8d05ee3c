import { Hono } from "hono";
import { PutTemplate, TemplateName } from "../../../protocol/api.ts";
import { deleteTemplate, listTemplates, putTemplate } from "../../../core/domain/templates.ts";
import type { AppEnv } from "../../http/types.ts";
import { parseWith, readBody } from "../../http/validate.ts";

export const templateRoutes = new Hono<AppEnv>()
  .get("/", async (c) => c.json({ templates: await listTemplates(c.var.domain) }))
  .put("/:name", async (c) => {
    const name = parseWith(TemplateName, c.req.param("name"), "name");
    const { template, created } = await putTemplate(c.var.domain, name, await readBody(c, PutTemplate));
    return c.json(template, created ? 201 : 200);
  })
  .delete("/:name", async (c) => {
    await deleteTemplate(c.var.domain, c.req.param("name"));
    return c.body(null, 204);
  });
