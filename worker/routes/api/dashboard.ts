/** Read models only the dashboard needs in one request; everything else it reads from the REST API. */
import { Hono } from "hono";
import { overview } from "../../../core/domain/overview.ts";
import type { AppEnv } from "../../http/types.ts";

export const dashboardRoutes = new Hono<AppEnv>().get("/overview", async (c) => c.json(await overview(c.var.domain)));
