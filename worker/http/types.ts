import type { DomainContext } from "../domain/context.ts";
import type { Env } from "../env.ts";

/** Hono's typing for every sub-app: the bindings, and the domain context auth sets. */
export interface AppEnv {
  Bindings: Env;
  Variables: { domain: DomainContext };
}
