import type { DomainContext } from "../../core/domain/context.ts";
import type { SessionAuth } from "../../core/domain/sessions.ts";
import type { Env } from "../../core/env.ts";

/** Hono's typing for every sub-app: the bindings, and the domain context auth sets. */
export interface AppEnv {
  Bindings: Env;
  /** `session` is set only when the dashboard's cookie authenticated the request. */
  Variables: { domain: DomainContext; session?: SessionAuth };
}
