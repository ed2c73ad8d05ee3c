/** /api/loops: start, list, read (with iterations) and stop loops (docs/loops.md). */
import { Hono } from "hono";
import { ListLoopsQuery, StartLoop } from "../../../protocol/api.ts";
import { getLoop, listLoops, startLoop, stopLoop } from "../../../core/domain/loops.ts";
import type { AppEnv } from "../../http/types.ts";
import { intParam, readBody, readQuery } from "../../http/validate.ts";

export const loopRoutes = new Hono<AppEnv>()
  .post("/", async (c) => c.json(await startLoop(c.var.domain, await readBody(c, StartLoop), "api"), 201))
  .get("/", async (c) => c.json({ loops: await listLoops(c.var.domain, readQuery(c, ListLoopsQuery)) }))
  .get("/:id", async (c) => c.json(await getLoop(c.var.domain, intParam(c, "id", "loop"))))
  .post("/:id/stop", async (c) => {
    const { loop, stopped } = await stopLoop(c.var.domain, intParam(c, "id", "loop"));
    return c.json({ outcome: stopped ? "stopped" : "already_ended", loop });
  });
