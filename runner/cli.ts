/**
 * `loop`: the self-hosted side of Loop. One module per command under commands/, loaded
 * only when called so `loop runner` does not pay for the others.
 */
import { UserError } from "./user-error.ts";

interface Command {
  summary: string;
  load: () => Promise<{ run(argv: string[]): Promise<number | void> }>;
}

const COMMANDS: Record<string, Command> = {
  runner: { summary: "run jobs from the Worker in Docker (foreground)", load: () => import("./commands/runner.ts") },
  onboard: { summary: "write ~/.loop/config.json from the commented example", load: () => import("./commands/onboard.ts") },
  "onboard:local": { summary: "connect this project's Claude Code to Loop (.mcp.json)", load: () => import("./commands/onboard-local.ts") },
  mcp: { summary: "stdio MCP bridge to the Worker's /mcp endpoint", load: () => import("./commands/mcp.ts") },
  discord: { summary: "discord register [--guild <id>]: publish the /loop command", load: () => import("./commands/discord.ts") },
  "daemon:start": { summary: "install and start the runner as a user service (systemd / launchd)", load: async () => (await import("./commands/daemon.ts")).command("start") },
  "daemon:stop": { summary: "stop the runner service and remove it", load: async () => (await import("./commands/daemon.ts")).command("stop") },
  "daemon:status": { summary: "is the runner service running, stopped or not installed", load: async () => (await import("./commands/daemon.ts")).command("status") },
  import: { summary: "bring the original Loop's channels, tasks, sessions and templates over (--dry-run first)", load: () => import("./commands/import.ts") },
};

/** The original Loop's command aliases (radutopala/loop cmd/loop/main.go). */
export const ALIASES: Record<string, string> = {
  "d:start": "daemon:start",
  up: "daemon:start",
  "d:stop": "daemon:stop",
  down: "daemon:stop",
  "d:status": "daemon:status",
  "o:local": "onboard:local",
  init: "onboard:local",
  m: "mcp",
  setup: "onboard",
  "o:global": "onboard",
  "onboard:global": "onboard",
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const aliases = (name: string) => Object.keys(ALIASES).filter((a) => ALIASES[a] === name);
  return [
    "usage: loop <command> [options]",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}${aliases(name).length ? ` (${aliases(name).join(", ")})` : ""}`),
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [given, ...rest] = argv;
  const name = given && Object.hasOwn(ALIASES, given) ? ALIASES[given] : given;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = COMMANDS[name];
  if (!command) {
    console.error(`loop: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  try {
    return (await (await command.load()).run(rest)) ?? 0;
  } catch (err) {
    if (err instanceof UserError) {
      console.error(`loop ${name}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

process.exitCode = await main(process.argv.slice(2));
