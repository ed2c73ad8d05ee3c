/**
 * `loop import` end to end: a fixture database with the original Loop's real schema
 * (test/fixtures/original-loop/schema.sql, from its migrations) and its HJSON config, the
 * real CLI, a real Worker (wrangler dev, D1). A dry run writes nothing; the import brings
 * channels, sessions, tasks and templates over; a second import changes nothing.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type TestWorker } from "../support/worker.ts";
import { cliEnv, removeTempDirs, runLoop, tempDir, ROOT } from "./cli.ts";

let worker: TestWorker;
let home: string;

const DISCORD = "123456789012345678";
const THREAD = "123456789012345679";
const FUTURE = "2099-01-02 03:04:05+00:00";
const PAST = "2001-01-02 03:04:05+00:00";

async function api(path: string): Promise<any> {
  const res = await fetch(`${worker.url}${path}`, { headers: { authorization: `Bearer ${worker.adminToken}` } });
  return res.json();
}

/** Everything the import could have written, for comparing before and after. */
async function state() {
  const { channels } = await api("/api/channels");
  const tasks = [];
  for (const c of channels) tasks.push(...(await api(`/api/tasks?channel_id=${c.id}`)).tasks);
  const strip = ({ updated_at: _u, next_run_at: _n, ...rest }: any) => rest;
  return { channels: channels.map(strip), tasks: tasks.map(strip), templates: (await api("/api/templates")).templates };
}

function fixtureDb(file: string) {
  const db = new DatabaseSync(file);
  db.exec(readFileSync(join(ROOT, "test/fixtures/original-loop/schema.sql"), "utf8"));
  const ch = db.prepare("INSERT INTO channels (channel_id, guild_id, name, active, session_id, dir_path, parent_id, platform) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  ch.run(DISCORD, "999", "api", 1, "5f0c7d0e-1111-4222-8333-944445555666", "/srv/import/api", "", "discord");
  ch.run(THREAD, "999", "⏱ nightly", 1, "sess-thread", "/srv/import/api", DISCORD, "discord");
  ch.run("123456789012345670", "999", "no-dir", 1, "", "", "", "discord");
  ch.run("C0SLACK", "T1", "slacky", 1, "", "/srv/import/slack", "", "slack");
  ch.run("local-notes", "", "notes", 1, "", "/srv/import/notes", "", "local");
  const t = db.prepare(
    "INSERT INTO scheduled_tasks (channel_id, guild_id, schedule, type, prompt, enabled, next_run_at, template_name, auto_delete_sec, worktree, origin_branch, update_before_run, workflow_name, bash_script) VALUES (?, '999', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  t.run(DISCORD, "0 9 * * 1-5", "cron", "Summarise yesterday's commits", 1, FUTURE, "", 0, 0, "main", 0, "", "");
  t.run(DISCORD, "2h", "interval", "Check the ticket queue", 0, FUTURE, "tk-heartbeat", 60, 0, "", 0, "", "");
  t.run(DISCORD, "", "manual", "Ship the release", 1, null, "", 300, 1, "release", 1, "", "");
  t.run("local-notes", FUTURE, "once", "Remind me to renew the domain", 1, FUTURE, "", 0, 0, "", 0, "", "");
  t.run(DISCORD, PAST, "once", "Long gone", 1, PAST, "", 0, 0, "", 0, "", "");
  t.run(DISCORD, "1h", "interval", "", 1, FUTURE, "", 0, 0, "", 0, "triage-issues", "");
  t.run(THREAD, "30m", "interval", "Thread task", 1, FUTURE, "", 0, 0, "", 0, "", "");
  t.run(DISCORD, "10s", "interval", "Too often", 1, FUTURE, "", 0, 0, "", 0, "", "");
  t.run(DISCORD, "0 3 * * *", "cron", "", 1, FUTURE, "", 0, 0, "", 0, "", "./scripts/backup.sh");
  db.close();
}

beforeAll(async () => {
  worker = await startWorker();
  home = await tempDir("loop-import-");
  mkdirSync(join(home, ".loop/templates"), { recursive: true });
  fixtureDb(join(home, ".loop/loop.db"));
  writeFileSync(join(home, ".loop/templates/heartbeat.md"), "Read HEARTBEAT.md and report only if something needs attention.\n");
  // The original's config, in HJSON: unquoted keys and strings, # comments, no commas.
  writeFileSync(
    join(home, ".loop/config.json"),
    `{
  # the original Loop's config
  platform: discord
  discord_token: not-a-real-token
  poll_interval_sec: 30
  task_templates: [
    {
      name: daily-summary
      description: Daily summary
      schedule: "0 17 * * *"
      type: cron
      prompt: Summarise the tickets closed today
    }
    {
      name: heartbeat
      description: Periodic check
      schedule: 30m
      type: interval
      prompt_path: heartbeat.md
      auto_delete_sec: 60
    }
    {
      name: Bad Name
      schedule: 1h
      type: interval
      prompt: x
    }
  ]
}
`,
  );
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await removeTempDirs();
});

const importCli = (...args: string[]) => runLoop(["import", "--tz", "Europe/Berlin", ...args], { cwd: home, env: cliEnv(home, { LOOP_API_URL: worker.url, LOOP_ADMIN_TOKEN: worker.adminToken }) });

describe("loop import", () => {
  it("--dry-run prints the plan with every skip and its reason, and writes nothing", async () => {
    const before = await state();
    const r = await importCli("--dry-run");
    expect(r.code, r.stderr).toBe(0);
    // node:sqlite's ExperimentalWarning is Node's business, not the user's.
    expect(r.stderr).not.toMatch(/ExperimentalWarning/);
    expect(r.stdout).toMatch(/^would create\s+channel\s+api \(\/srv\/import\/api\): Discord channel 123456789012345678$/m);
    expect(r.stdout).toMatch(/^would create\s+session\s+api .*5f0c7d0e-1111-4222-8333-944445555666$/m);
    expect(r.stdout).toMatch(/^skipped\s+channel\s+⏱ nightly .*: a thread: /m);
    expect(r.stdout).toMatch(/^skipped\s+channel\s+no-dir .*: no directory/m);
    expect(r.stdout).toMatch(/^skipped\s+channel\s+slacky .*: a slack channel/m);
    expect(r.stdout).toMatch(/^skipped\s+task\s+task #5 once "Long gone": a once task whose time .* has passed$/m);
    expect(r.stdout).toMatch(/^skipped\s+task\s+task #6 interval "triage-issues": runs workflow triage-issues/m);
    expect(r.stdout).toMatch(/^skipped\s+task\s+task #7 .*: its channel 123456789012345679 was not imported/m);
    expect(r.stdout).toMatch(/^skipped\s+task\s+task #9 cron "\.\/scripts\/backup\.sh": runs a bash script, not a prompt/m);
    expect(r.stdout).toMatch(/^skipped\s+template template Bad Name: its name is not/m);
    expect(r.stdout).toMatch(/^plan: \d+ to create, 0 to update, 0 already there, \d+ skipped \(dry run: nothing was written\)$/m);
    expect(await state()).toEqual(before);
  });

  it("imports channels, sessions, tasks with their options and templates; a second import changes nothing", async () => {
    const r = await importCli();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^skipped\s+task\s+task #8 interval "Too often": .*shorter than the minimum/m);

    const { channels } = await api("/api/channels");
    const apiChannel = channels.find((c: any) => c.dir_path === "/srv/import/api");
    expect(apiChannel).toMatchObject({ id: DISCORD, discord_channel_id: DISCORD, name: "api", session_id: "5f0c7d0e-1111-4222-8333-944445555666" });
    expect(channels.find((c: any) => c.dir_path === "/srv/import/notes")).toMatchObject({ discord_channel_id: null, name: "notes", session_id: null });
    expect(channels.some((c: any) => c.dir_path === "/srv/import/slack")).toBe(false);

    const { tasks } = await api(`/api/tasks?channel_id=${DISCORD}`);
    const byPrompt = Object.fromEntries(tasks.map((t: any) => [t.prompt, t]));
    expect(Object.keys(byPrompt).sort()).toEqual(["Check the ticket queue", "Ship the release", "Summarise yesterday's commits"]);
    expect(byPrompt["Summarise yesterday's commits"]).toMatchObject({ type: "cron", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", enabled: true, worktree: false, origin_branch: null });
    expect(byPrompt["Check the ticket queue"]).toMatchObject({ type: "interval", schedule: "2h", enabled: false, template_name: "tk-heartbeat", auto_delete_sec: 60 });
    expect(byPrompt["Ship the release"]).toMatchObject({ type: "manual", schedule: "", worktree: true, origin_branch: "release", update_before_run: true, auto_delete_sec: 300 });
    const notes = channels.find((c: any) => c.dir_path === "/srv/import/notes");
    expect((await api(`/api/tasks?channel_id=${notes.id}`)).tasks).toEqual([expect.objectContaining({ type: "once", schedule: "2099-01-02T03:04:05.000Z" })]);

    const { templates } = await api("/api/templates");
    expect(templates).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "daily-summary", type: "cron", schedule: "0 17 * * *", prompt: "Summarise the tickets closed today", auto_delete_sec: 0 }),
        expect.objectContaining({ name: "heartbeat", type: "interval", schedule: "30m", prompt: "Read HEARTBEAT.md and report only if something needs attention.", auto_delete_sec: 60 }),
      ]),
    );

    const after = await state();
    const again = await importCli();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^done: 0 created, 0 updated, \d+ already there, \d+ skipped$/m);
    expect(await state()).toEqual(after);
  });
});
