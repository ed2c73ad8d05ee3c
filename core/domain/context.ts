import type { Db } from "../db/client.ts";
import type { Config, Env } from "../env.ts";
import type { Actor } from "./actor.ts";

/** What every domain function needs: storage, configuration, bindings and who is asking. */
export interface DomainContext {
  db: Db;
  env: Env;
  cfg: Config;
  actor: Actor;
}
