/**
 * `loop runner [--config <path>]`: runs jobs from the Worker in Docker, in the foreground.
 * JSON log lines on stdout, a few human lines on stderr. SIGTERM/SIGINT: stop claiming and
 * let running jobs finish (shutdown_grace_sec), then stop them and hand their leases back
 * to the Worker, which re-queues them; a second signal does that at once; a third exits
 * without waiting for anything.
 */
import { defaultConfigPath } from "../config-file.ts";
import { loadConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { startRunner } from "../runner.ts";
import { parseFlags } from "../flags.ts";

const HELP = `usage: loop runner [--config <path>]

Claims jobs from the Loop Worker and runs each in a Docker container on this machine.
  --config <path>   configuration file (default ~/.loop/config.json; create it with \`loop onboard\`)`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { config: { type: "string", short: "c" } }, HELP);
  if (!values) return 0;
  const config = loadConfig(values.config ?? defaultConfigPath());
  const log = createLogger({ level: config.logLevel });
  const runner = await startRunner(config, { log });

  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    log.info("signal received", { signal });
    if (signals === 1) void runner.stop();
    else if (signals === 2) {
      log.human("stopping running jobs now and handing them back (signal again to exit without reporting them)");
      void runner.stop({ graceMs: 0 });
    } else {
      log.human("exiting now: runs still open end when their lease runs out; leftover containers are removed at the next start");
      process.exit(130);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    await runner.done;
    return 0;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
