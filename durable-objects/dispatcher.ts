import { DurableObject } from "cloudflare:workers";
import type { Env } from "../worker/env.ts";

/** One per runner pool: pending jobs, leases and parked long-poll claims. */
export class Dispatcher extends DurableObject<Env> {}
