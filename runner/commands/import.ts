/**
 * `loop import [--db <path>] [--config <path>] [--dry-run]`: brings the original Loop's
 * channels, tasks, sessions and task templates over to this Loop, through the REST API with
 * an admin token. See runner/import/importer.ts; docs/migrating.md walks through it.
 */
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { ApiClient, resolveTarget } from "../api-client.ts";
import { parseFlags } from "../flags.ts";
import { formatSteps, importOriginal, OriginalTemplate } from "../import/importer.ts";
import { readOriginalDb } from "../import/original-db.ts";
import { readConfigFile } from "../config-file.ts";
import { UserError } from "../user-error.ts";

const USAGE = `usage: loop import [--db <path>] [--config <path>] [--tz <zone>] [--dry-run] [--api-url <url>] [--token <admin token>]

Brings the original Loop's channels (Discord ids, directories, sessions), scheduled tasks
and task_templates over to this Loop, through its REST API. Run it with --dry-run first:
it prints what it would do. Running it again changes nothing; what cannot come over is
listed with the reason.
  --db <path>       the original's SQLite database (default ~/.loop/loop.db)
  --config <path>   the original's config, HJSON or JSON, for task_templates (default ~/.loop/config.json)
  --tz <zone>       the time zone the original read cron schedules in (default this machine's: ${Intl.DateTimeFormat().resolvedOptions().timeZone})
  --dry-run         print the plan, write nothing
The URL and admin token default to LOOP_API_URL / LOOP_ADMIN_TOKEN, then worker_url /
admin_token in ~/.loop/config.json.`;

const OriginalConfig = z.looseObject({ task_templates: z.array(OriginalTemplate).optional() });

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(
    argv,
    { db: { type: "string" }, config: { type: "string" }, tz: { type: "string" }, "dry-run": { type: "boolean" }, "api-url": { type: "string" }, token: { type: "string" } },
    USAGE,
  );
  if (!values) return 0;
  const home = process.env.HOME ?? homedir();
  const db = resolve(values.db ?? join(home, ".loop", "loop.db"));
  const configFile = resolve(values.config ?? join(home, ".loop", "config.json"));
  const tz = values.tz ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
  } catch {
    throw new UserError(`--tz ${tz} is not an IANA time zone (e.g. Europe/Berlin)`);
  }
  const data = await readOriginalDb(db);
  let templates: z.infer<typeof OriginalTemplate>[] = [];
  const raw = readConfigFile(configFile);
  if (raw) {
    const parsed = OriginalConfig.safeParse(raw);
    if (!parsed.success) throw new UserError(`${configFile}: task_templates: ${z.prettifyError(parsed.error)}`);
    templates = parsed.data.task_templates ?? [];
  }
  const api = new ApiClient(await resolveTarget({ apiUrl: values["api-url"], token: values.token }));
  const dryRun = values["dry-run"] ?? false;
  console.log(`${dryRun ? "Plan for" : "Importing"} ${db} (${data.channels.length} channels, ${data.tasks.length} tasks) and ${templates.length} task templates from ${configFile} into ${api.target.apiUrl}\n`);
  const steps = await importOriginal(api, data, templates, { dryRun, tz, loopDir: dirname(configFile) });
  console.log(formatSteps(steps, dryRun));
  return 0;
}
