/**
 * `loop daemon:start|stop|status` (aliases d:start, up; d:stop, down; d:status): the runner
 * as a systemd user service (Linux) or launchd agent (macOS). See runner/daemon.ts.
 */
import { homedir } from "node:os";
import { resolve } from "node:path";
import { defaultConfigPath } from "../config-file.ts";
import { daemonStart, daemonStatus, daemonStop, realExec, type DaemonDeps } from "../daemon.ts";
import { parseFlags } from "../flags.ts";

const HELP = `usage: loop daemon:start [--config <path>] | loop daemon:stop | loop daemon:status

Installs and starts \`loop runner\` as a service of this user: a systemd user unit
(~/.config/systemd/user/loop-runner.service) on Linux, a launchd agent on macOS.
  daemon:start   (d:start, up)   write the unit and start it; again after an upgrade to re-point it
  daemon:stop    (d:stop, down)  stop it and remove the unit
  daemon:status  (d:status)      running, stopped or not installed
  --config <path>  the runner config the service uses (default ~/.loop/config.json)`;

const deps = (): DaemonDeps => ({ platform: process.platform, exec: realExec, log: (l) => console.log(l) });

export function command(action: "start" | "stop" | "status") {
  return {
    async run(argv: string[]): Promise<number> {
      const values = parseFlags(argv, { config: { type: "string", short: "c" } }, HELP);
      if (!values) return 0;
      const home = process.env.HOME ?? homedir();
      if (action === "start") {
        daemonStart(
          {
            node: process.execPath,
            script: resolve(process.argv[1] ?? "loop"),
            config: resolve(values.config ?? defaultConfigPath()),
            home,
            path: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
          },
          deps(),
        );
      } else if (action === "stop") daemonStop(home, deps());
      else console.log(daemonStatus(home, deps()));
      return 0;
    },
  };
}
