import { Hono } from "hono";
import { ListRunsQuery } from "../../../protocol/api.ts";
import { getRunWithEvents, listRuns } from "../../domain/runs.ts";
import type { AppEnv } from "../../http/types.ts";
import { intParam, readQuery } from "../../http/validate.ts";

export const runRoutes = new Hono<AppEnv>()
  .get("/", async (c) => c.json({ runs: await listRuns(c.var.domain, readQuery(c, ListRunsQuery)) }))
  .get("/:id", async (c) => c.json(await getRunWithEvents(c.var.domain, intParam(c, "id", "run"))));
