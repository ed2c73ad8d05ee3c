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
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return ["usage: loop <command> [options]", "", ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
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
