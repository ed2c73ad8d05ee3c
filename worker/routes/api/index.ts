/** The REST API: everything under /api but health and sign-in needs a bearer token or the dashboard's session cookie. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MAX_BODY_BYTES } from "../../../protocol/api.ts";
import { AppError } from "../../../core/errors.ts";
import { apiAuth } from "../../http/auth.ts";
import type { AppEnv } from "../../http/types.ts";
import { channelRoutes } from "./channels.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { healthRoutes } from "./health.ts";
import { loopRoutes } from "./loops.ts";
import { memoryRoutes } from "./memory.ts";
import { runnerAdminRoutes } from "./runners.ts";
import { runRoutes } from "./runs.ts";
import { sessionRoutes, signInRoutes } from "./session.ts";
import { spendRoutes } from "./spend.ts";
import { taskRoutes } from "./tasks.ts";
import { templateRoutes } from "./templates.ts";
import { tokenRoutes } from "./tokens.ts";

export const apiRoutes = new Hono<AppEnv>()
  .route("/health", healthRoutes)
  .use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new AppError(413, "body_too_large", `The request body is larger than ${MAX_BODY_BYTES / 1024} KiB.`);
      },
    }),
  )
  // Signing in is the one write that carries its credential in the body.
  .route("/session", signInRoutes)
  .use(apiAuth)
  .route("/session", sessionRoutes)
  .route("/", spendRoutes)
  .route("/tasks", taskRoutes)
  .route("/channels", channelRoutes)
  .route("/channels", memoryRoutes)
  .route("/loops", loopRoutes)
  .route("/runs", runRoutes)
  .route("/runners", runnerAdminRoutes)
  .route("/tokens", tokenRoutes)
  .route("/templates", templateRoutes)
  .route("/dashboard", dashboardRoutes);
