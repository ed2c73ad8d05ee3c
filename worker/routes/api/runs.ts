import { Hono } from "hono";
import { CreateRun, ListRunsQuery } from "../../../protocol/api.ts";
import { ApprovalRequest } from "../../../protocol/policy.ts";
import { decideApproval } from "../../../core/domain/approvals.ts";
import { cancelRun, createRun, getRunWithEvents, listRuns, streamRun } from "../../../core/domain/runs.ts";
import type { AppEnv } from "../../http/types.ts";
import { intParam, readBody, readQuery } from "../../http/validate.ts";

export const runRoutes = new Hono<AppEnv>()
  .post("/", async (c) => c.json(await createRun(c.var.domain, await readBody(c, CreateRun), "api"), 201))
  .get("/", async (c) => c.json({ runs: await listRuns(c.var.domain, readQuery(c, ListRunsQuery)) }))
  .get("/:id", async (c) => c.json(await getRunWithEvents(c.var.domain, intParam(c, "id", "run"))))
  .post("/:id/cancel", async (c) => {
    const { run, outcome } = await cancelRun(c.var.domain, intParam(c, "id", "run"));
    return c.json({ outcome, run }, outcome === "signalled" ? 202 : 200);
  })
  .post("/:id/approval", async (c) => {
    const { run, duplicate } = await decideApproval(c.var.domain, intParam(c, "id", "run"), await readBody(c, ApprovalRequest));
    return c.json({ run, duplicate });
  })
  .get("/:id/stream", async (c) => {
    // EventSource sends Last-Event-ID when it reconnects: resume after that seq.
    const last = /^\d{1,15}$/.exec(c.req.header("last-event-id") ?? "");
    const stream = await streamRun(c.var.domain, intParam(c, "id", "run"), last ? Number(last[0]) : 0);
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no" },
    });
  });
