/** Who relays Discord's Gateway now (the relay lease the Dispatcher holds), as people read it. */
import { dispatcherOf } from "../../durable-objects/contracts.ts";
import type { Env } from "../env.ts";
import { iso } from "./views.ts";

export interface RelayStatus {
  runner_id: string;
  runner_name: string | null;
  since: string;
  expires_at: string;
}

export async function relayHolder(env: Env): Promise<RelayStatus | null> {
  const h = await dispatcherOf(env).relayHolder();
  return h && { runner_id: h.runner_id, runner_name: h.runner_name, since: iso(h.acquired_at)!, expires_at: iso(h.expires_at)! };
}
