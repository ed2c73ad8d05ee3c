/** /api/channels/:id/memory: a channel's persistent and working memory (docs/loops.md). */
import { Hono } from "hono";
import { AppendMemory, MemoryKind, SetMemory } from "../../../protocol/api.ts";
import { appendMemory, getMemory, setMemory } from "../../../core/domain/memory.ts";
import type { AppEnv } from "../../http/types.ts";
import { parseWith, readBody } from "../../http/validate.ts";

const kindParam = (raw: string | undefined) => parseWith(MemoryKind, raw, "kind");

export const memoryRoutes = new Hono<AppEnv>()
  .get("/:id/memory", async (c) => c.json(await getMemory(c.var.domain, c.req.param("id"))))
  .put("/:id/memory/:kind", async (c) => {
    const kind = kindParam(c.req.param("kind"));
    const { text } = await readBody(c, SetMemory);
    return c.json(await setMemory(c.var.domain, c.req.param("id"), kind, text));
  })
  .post("/:id/memory/:kind/append", async (c) => {
    const kind = kindParam(c.req.param("kind"));
    const { text } = await readBody(c, AppendMemory);
    return c.json(await appendMemory(c.var.domain, c.req.param("id"), kind, text));
  })
  .delete("/:id/memory/:kind", async (c) => c.json(await setMemory(c.var.domain, c.req.param("id"), kindParam(c.req.param("kind")), "")));
