/**
 * `loop onboard [--force] [--config <path>]`: writes ~/.loop/config.json from the commented
 * example shipped with the runner (runner/config.example.jsonc). It refuses to replace an
 * existing file unless --force is given. The file is private (0600): it may hold secrets.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { EXAMPLE_CONFIG } from "../assets.ts";
import { defaultConfigPath } from "../config-file.ts";
import { UserError } from "../user-error.ts";
import { parseFlags } from "../flags.ts";


const HELP = `usage: loop onboard [--force] [--config <path>]

Writes a commented runner configuration to ~/.loop/config.json (or --config <path>).
  --force   replace an existing file`;

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { force: { type: "boolean" }, config: { type: "string", short: "c" } }, HELP);
  if (!values) return 0;
  const target = resolve(values.config ?? defaultConfigPath());
  if (existsSync(target) && !values.force) throw new UserError(`${target} already exists; edit it, or pass --force to replace it with the example`);
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  writeFileSync(target, readFileSync(EXAMPLE_CONFIG, "utf8"), { mode: 0o600 });
  chmodSync(target, 0o600); // also when --force replaced a file with looser permissions
  console.log(`wrote ${target}
next:
  1. register this runner:  curl -X POST $WORKER/api/runners -H "Authorization: Bearer $ADMIN_TOKEN" \\
       -H 'content-type: application/json' -d '{"name": "home-server"}'
  2. put worker_url and the returned token (runner_token) in ${target}
  3. give it an Anthropic credential (anthropic_api_key, or export ANTHROPIC_API_KEY)
  4. loop runner`);
  return 0;
}
