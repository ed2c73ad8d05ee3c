/**
 * Loop's Worker: the HTTP surfaces (REST, runner, MCP, Discord) and the Cron Trigger sweep.
 * The Durable Object classes are re-exported here because wrangler binds them by export.
 */
import { app } from "./app.ts";
import { db } from "../core/db/client.ts";
import { sweep } from "../core/domain/sweep.ts";
import { config, type Env } from "../core/env.ts";

export { ChannelSession } from "../durable-objects/channel-session.ts";
export { Dispatcher } from "../durable-objects/dispatcher.ts";

export default {
  fetch: app.fetch,
  async scheduled(controller, env) {
    await sweep(env, db(env.DB), config(env), controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;
