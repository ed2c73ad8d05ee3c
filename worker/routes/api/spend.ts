/** Spend control over REST (issue 14): the usage ledger, budgets and per-run limits. */
import { Hono } from "hono";
import { PutBudget, SetRunLimits, UsageQuery } from "../../../protocol/spend.ts";
import { getChannelBudget, getGlobalBudget, setChannelBudget, setGlobalBudget } from "../../../core/domain/budget-store.ts";
import { getChannelLimits, getTaskLimits, setChannelLimits, setTaskLimits } from "../../../core/domain/limits.ts";
import { usageReport } from "../../../core/domain/usage.ts";
import type { AppEnv } from "../../http/types.ts";
import { intParam, readBody, readQuery } from "../../http/validate.ts";

export const spendRoutes = new Hono<AppEnv>()
  .get("/usage", async (c) => c.json(await usageReport(c.var.domain, readQuery(c, UsageQuery))))
  .get("/budget", async (c) => c.json(await getGlobalBudget(c.var.domain)))
  .put("/budget", async (c) => c.json(await setGlobalBudget(c.var.domain, await readBody(c, PutBudget))))
  .get("/channels/:id/budget", async (c) => c.json(await getChannelBudget(c.var.domain, c.req.param("id"))))
  .put("/channels/:id/budget", async (c) => c.json(await setChannelBudget(c.var.domain, c.req.param("id"), await readBody(c, PutBudget))))
  .get("/channels/:id/limits", async (c) => c.json(await getChannelLimits(c.var.domain, c.req.param("id"))))
  .put("/channels/:id/limits", async (c) => c.json(await setChannelLimits(c.var.domain, c.req.param("id"), await readBody(c, SetRunLimits))))
  .get("/tasks/:id/limits", async (c) => c.json(await getTaskLimits(c.var.domain, intParam(c, "id", "task"))))
  .put("/tasks/:id/limits", async (c) => c.json(await setTaskLimits(c.var.domain, intParam(c, "id", "task"), await readBody(c, SetRunLimits))));
