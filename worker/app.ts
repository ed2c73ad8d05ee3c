/**
 * The Worker's HTTP surface: one Hono sub-app per surface, mounted here, and the one place
 * errors become responses.
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ErrorBody } from "../protocol/api.ts";
import { MCP_PATH } from "../protocol/mcp.ts";
import { RUNNER_PATH } from "../protocol/runner.ts";
import { AppError } from "../core/errors.ts";
import type { AppEnv } from "./http/types.ts";
import { log } from "../core/log.ts";
import { apiRoutes } from "./routes/api/index.ts";
import { discordRoutes } from "./routes/discord.ts";
import { mcpRoutes } from "./routes/mcp.ts";
import { runnerRoutes } from "./routes/runner.ts";

export const app = new Hono<AppEnv>();

app.route("/api", apiRoutes);
app.route(RUNNER_PATH, runnerRoutes);
app.route("/discord", discordRoutes);
app.route(MCP_PATH, mcpRoutes);

app.notFound((c) => c.json(new AppError(404, "not_found", `No route for ${c.req.method} ${c.req.path}.`).toBody(), 404));

app.onError((err, c) => {
  if (err instanceof AppError) {
    if (err.status === 401) c.header("WWW-Authenticate", 'Bearer realm="loop"');
    return c.json(err.toBody(), err.status);
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    return c.json({ error: { code: "http_error", message: err.message || "Request refused." } } satisfies ErrorBody, status);
  }
  log.error("unhandled error", { method: c.req.method, path: c.req.path, error: String(err), stack: (err as Error).stack });
  return c.json({ error: { code: "internal", message: "Internal error; it has been logged." } } satisfies ErrorBody, 500);
});
