/** Read models only the dashboard needs in one request; everything else it reads from the REST API. */
import { Hono } from "hono";
import { UsageQuery } from "../../../protocol/dashboard.ts";
import { overview } from "../../domain/overview.ts";
import { usageFromRuns } from "../../domain/usage-from-runs.ts";
import type { AppEnv } from "../../http/types.ts";
import { readQuery } from "../../http/validate.ts";

export const dashboardRoutes = new Hono<AppEnv>()
  .get("/overview", async (c) => c.json(await overview(c.var.domain)))
  .get("/usage", async (c) => c.json(await usageFromRuns(c.var.domain, readQuery(c, UsageQuery).days)));
