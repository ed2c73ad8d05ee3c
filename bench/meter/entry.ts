/**
 * The Worker as bench/cost runs it: the product's own entry and Durable Objects, with every
 * Worker request, Durable Object call and alarm, and D1 statement metered (meter.ts).
 */
import loop, { ChannelSession as ProductSession, Dispatcher as ProductDispatcher } from "../../worker/index.ts";
import type { Env } from "../../core/env.ts";
import { mark, meterEnv } from "./meter.ts";

/** Ids in paths become :id, so a route is counted as one whatever run it names. */
const routeOf = (url: URL) => url.pathname.replace(/\/\d+(?=\/|$)/g, "/:id").replace(/\/(tok|rnr|ch|lease)_[^/]+/g, "/:$1");

export class ChannelSession extends ProductSession {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, meterEnv(env));
  }
  override async alarm(): Promise<void> {
    mark({ k: "do", cls: "ChannelSession", method: "alarm" });
    return super.alarm();
  }
}

export class Dispatcher extends ProductDispatcher {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, meterEnv(env));
  }
  override async alarm(): Promise<void> {
    mark({ k: "do", cls: "Dispatcher", method: "alarm" });
    return super.alarm();
  }
}

export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    let route = `${request.method} ${routeOf(url)}`;
    // One MCP endpoint, many JSON-RPC methods: name the method.
    if (url.pathname === "/mcp" && request.method === "POST") {
      const body = await request.clone().text();
      const method = /"method"\s*:\s*"([^"]+)"/.exec(body)?.[1];
      if (method) route += ` ${method}`;
    }
    mark({ k: "worker", route });
    return loop.fetch(request, meterEnv(env), ctx);
  },
  async scheduled(controller, env) {
    mark({ k: "cron" });
    return loop.scheduled(controller, meterEnv(env));
  },
} satisfies ExportedHandler<Env>;
