import type { D1Migration } from "cloudflare:test";
import type { Env as WorkerEnv } from "../../core/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      TEST_MIGRATIONS: D1Migration[];
      /** The private half of DISCORD_PUBLIC_KEY (JWK), for signing interactions as Discord. */
      TEST_DISCORD_PRIVATE_JWK: string;
    }
  }
}
