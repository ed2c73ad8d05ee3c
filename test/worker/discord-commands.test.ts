/**
 * Every /loop subcommand through the real Worker, signed as Discord signs it: what it
 * answers, what it changes in D1, and the ephemeral error (with a correct example) for
 * bad options.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LOOP_COMMAND, SUBCOMMANDS } from "../../protocol/discord-commands.ts";
import { COMMAND_TABLE } from "../../worker/discord/commands/index.ts";
import { optionNames } from "../../worker/discord/options.ts";
import { insertRun } from "./helpers.ts";
import { admin, askAndWait, command, newPlace, run, send, snowflake, waitForCalls, webhookPath, type Place } from "./discord-helpers.ts";

const EPHEMERAL = 64;

const channelRow = (discordId: string) => env.DB.prepare("SELECT * FROM channels WHERE discord_channel_id = ?").bind(discordId).first<any>();
const tasksOf = (channelId: string) => env.DB.prepare("SELECT * FROM tasks WHERE channel_id = ? ORDER BY id").bind(channelId).all<any>().then((r) => r.results);
const runsOf = (channelId: string) => env.DB.prepare("SELECT * FROM runs WHERE channel_id = ? ORDER BY id").bind(channelId).all<any>().then((r) => r.results);

/** A channel in bootstrap mode with one task, made through /loop schedule. */
async function withTask(place: Place = newPlace(), opts: Record<string, string> = {}) {
  const res = await run("schedule", { schedule: "30m", type: "interval", prompt: "check the build", ...opts }, place);
  const id = Number(/task `#(\d+)`/.exec(res.content)?.[1]);
  expect(id, res.content).toBeGreaterThan(0);
  return { place, taskId: id };
}

function expectError(res: { content: string; ephemeral: boolean }, message: RegExp, example?: string) {
  expect(res.ephemeral).toBe(true);
  expect(res.content).toMatch(/^⚠️ /);
  expect(res.content).toMatch(message);
  if (example) expect(res.content).toContain(`Example: \`${example}`);
}

describe("the one definition", () => {
  it("registers exactly the subcommands the Worker handles, with the options it reads", () => {
    const registered = new Map<string, string[]>();
    for (const o of LOOP_COMMAND.options as any[]) {
      if (o.type === 2) for (const s of o.options) registered.set(`${o.name} ${s.name}`, (s.options ?? []).map((x: any) => x.name));
      else registered.set(o.name, (o.options ?? []).map((x: any) => x.name));
    }
    expect([...registered.keys()].sort()).toEqual([...SUBCOMMANDS].sort());
    expect(Object.keys(COMMAND_TABLE).sort()).toEqual([...SUBCOMMANDS].sort());
    for (const [path, names] of registered) expect(names.sort(), path).toEqual(optionNames(path as any).sort());
  });
});

describe("first use", () => {
  it("creates the Loop channel for a Discord channel, named after it, in bootstrap mode", async () => {
    const place = newPlace();
    const res = await run("status", {}, place);
    expect(res.ephemeral).toBe(true);
    expect(res.content).toContain("bootstrap mode");
    expect(await channelRow(place.channelId)).toMatchObject({ id: place.channelId, guild_id: "900000000000000002", name: "project", parent_id: null, owner_ids: "[]" });
  });

  it("a thread gets a Loop channel of its own under its parent's", async () => {
    const parent = newPlace();
    await run("status", {}, parent);
    const thread = newPlace({ thread: { parentId: parent.channelId } });
    await run("status", {}, thread);
    expect(await channelRow(thread.channelId)).toMatchObject({ parent_id: parent.channelId });
  });

  it("in a direct message, /loop works on the user's own DM channel (which /loop dir binds)", async () => {
    const place = newPlace();
    const dm = (path: string, options: Record<string, string> = {}) => {
      const i: any = command(path, options, place);
      delete i.guild_id;
      delete i.member;
      i.user = { id: place.userId, username: "dana" };
      return send(i);
    };
    const status = await dm("status");
    expect(status.body.data.flags).toBe(EPHEMERAL);
    expect(status.body.data.content).toMatch(/Loop status/);
    expect(await channelRow(place.channelId)).toMatchObject({ dm_user_id: place.userId, guild_id: null });
    const bound = await dm("dir", { path: `/srv/dm-${place.userId}` });
    expect(bound.body.data.content).toMatch(/now works in/);
    expect(await channelRow(place.channelId)).toMatchObject({ dir_path: `/srv/dm-${place.userId}` });

    // Someone else in that conversation (it is not theirs) is told where /loop works.
    const other: any = command("status", {}, place);
    delete other.guild_id;
    delete other.member;
    other.user = { id: snowflake() };
    expect((await send(other)).body.data.content).toMatch(/your own direct messages/);
  });

  it("says so when a subcommand is unknown (commands registered by a newer Loop)", async () => {
    const res = await run("frobnicate", {}, newPlace());
    expect(res.ephemeral).toBe(true);
    expect(res.content).toMatch(/loop discord register/);
  });
});

describe("ask", () => {
  it("defers the answer and queues a run for the channel, attributed to the user", async () => {
    const place = newPlace();
    await askAndWait("what changed today?", place);
    const [r] = await runsOf(place.channelId);
    expect(r).toMatchObject({ trigger: "discord", status: "queued", prompt: "what changed today?", requested_by: `discord:${place.userId}` });
  });

  it("refuses a blank prompt with an example", async () => {
    const place = newPlace();
    expectError(await run("ask", { prompt: "   " }, place), /prompt/, "/loop ask prompt:");
    expect(await runsOf(place.channelId)).toEqual([]);
  });

  it("answers at once, and turns a refusal found afterwards into an edit of the deferral", async () => {
    const place = newPlace();
    // A direct message with the bot that belongs to someone else: nothing stored is needed
    // to defer it; the refusal is found afterwards.
    const mine = command("status", {}, place) as any;
    await send({ ...mine, guild_id: undefined, member: undefined, user: { id: snowflake(), username: "owner" } });
    const { guild_id: _g, member: _m, ...dm } = command("ask", { prompt: "hello" }, place) as any;
    expect((await send({ ...dm, user: { id: place.userId, username: "someone" } })).body).toEqual({ type: 5 });
    const [edit] = await waitForCalls(webhookPath(dm.token), (c) => c.length > 0);
    expect(edit).toMatchObject({ method: "PATCH", path: `${webhookPath(dm.token)}/messages/@original` });
    expect(edit!.body.content).toMatch(/your own direct messages with the bot/);
    expect(await runsOf(place.channelId)).toEqual([]);
  });
});

describe("ask, handed to the channel's session after the answer", () => {
  const liveRecord = (channelId: string, runId: number) =>
    runInDurableObject(env.CHANNEL_SESSION.getByName(channelId), (_o, state) => state.storage.get<any>(`discord:live:${runId}`));
  /** The session queues after the answer: polls until `read` gives something `ok` accepts. */
  async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const v = await read();
      if (ok(v) || Date.now() > deadline) return v;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it("queues exactly one run per ask and starts its live message on the deferred reply", async () => {
    const place = newPlace();
    const { interaction, runId } = await askAndWait("first question", place);
    // The session set up the live message on the interaction's deferred reply before answering.
    expect(await until(() => liveRecord(place.channelId, runId), Boolean)).toMatchObject({ runId, target: { kind: "interaction", token: interaction.token, channelId: place.channelId } });
    await askAndWait("second question", place);
    expect((await runsOf(place.channelId)).map((r: any) => r.prompt)).toEqual(["first question", "second question"]);
  });

  it("in a thread, creates the thread's channel under its parent and queues the run there", async () => {
    const place = newPlace({ thread: { parentId: snowflake() } });
    const { runId } = await askAndWait("in a thread", place);
    expect(await channelRow(place.channelId)).toMatchObject({ id: place.channelId, parent_id: place.thread!.parentId });
    expect((await runsOf(place.channelId)).map((r: any) => r.id)).toEqual([runId]);
  });

  it("past the channel's budget, the run ends skipped_budget and the deferred reply says why", async () => {
    const place = newPlace();
    await run("owner add", { user: place.userId }, place);
    await insertRun({ channelId: place.channelId, status: "succeeded", costUsd: 0.02, finishedAt: Date.now() - 1000 });
    await run("budget", { daily_usd: 0.01 }, place);
    const { interaction, runId } = await askAndWait("one more", place);
    const row = await until(() => env.DB.prepare("SELECT status, error FROM runs WHERE id = ?").bind(runId).first<any>(), (r) => r?.status !== "queued");
    expect(row).toEqual({ status: "skipped_budget", error: "over budget: the channel's daily budget: $0.0200 spent of $0.0100 today (UTC)" });
    const calls = await waitForCalls(webhookPath(interaction.token), (c) => c.some((x) => /Not started: over budget/.test(x.body?.content ?? "")));
    expect(calls.at(-1)!.body.content).toMatch(/Not started: over budget/);
  });

  it("a failure inside the session after the answer replaces the deferral with what went wrong, and queues nothing", async () => {
    const place = newPlace();
    // A real D1 failure where the session inserts the run (only for this prompt).
    await env.DB.exec("CREATE TRIGGER IF NOT EXISTS test_refuse_boom BEFORE INSERT ON runs WHEN NEW.prompt = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    try {
      const interaction = command("ask", { prompt: "boom" }, place);
      expect((await send(interaction)).body).toEqual({ type: 5 });
      const [edit] = await waitForCalls(webhookPath(interaction.token), (c) => c.length > 0);
      expect(edit).toMatchObject({ method: "PATCH", path: `${webhookPath(interaction.token)}/messages/@original` });
      expect(edit!.body.content).toBe("⚠️ Loop could not queue the run; it has been logged.");
      expect(await runsOf(place.channelId)).toEqual([]);
    } finally {
      await env.DB.exec("DROP TRIGGER IF EXISTS test_refuse_boom;");
    }
  });

  it("a failure starting the queue after the run is stored still tells the asker the run is queued, never 'could not queue'", async () => {
    const place = newPlace();
    await run("owner add", { user: place.userId }, place);
    await insertRun({ channelId: place.channelId, status: "succeeded", costUsd: 0.02, finishedAt: Date.now() - 1000 });
    await run("budget", { daily_usd: 0.01 }, place);
    // Over budget, starting the queue ends the run skipped_budget: a real D1 failure there
    // (only for this prompt) fails the queue's start after the insert.
    await env.DB.exec("CREATE TRIGGER IF NOT EXISTS test_refuse_skip BEFORE UPDATE OF status ON runs WHEN NEW.prompt = 'stuck' AND NEW.status = 'skipped_budget' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;");
    try {
      const interaction = command("ask", { prompt: "stuck" }, place);
      expect((await send(interaction)).body).toEqual({ type: 5 });
      const [edit] = await waitForCalls(webhookPath(interaction.token), (c) => c.length > 0);
      expect(edit!.body.content).not.toMatch(/could not queue/);
      const runs = await runsOf(place.channelId);
      expect(runs.filter((r: any) => r.prompt === "stuck").map((r: any) => r.status)).toEqual(["queued"]);
    } finally {
      await env.DB.exec("DROP TRIGGER IF EXISTS test_refuse_skip;");
    }
  });

  it("a place /loop cannot be used from is refused at once, without a deferral", async () => {
    const { guild_id: _g, member: _m, ...nowhere } = command("ask", { prompt: "hello" }, newPlace()) as any;
    const res = await send(nowhere);
    expect(res.body).toMatchObject({ type: 4, data: { flags: EPHEMERAL, content: "/loop works in server channels, threads and the bot's direct messages." } });
  });
});

describe("schedule", () => {
  it("creates a cron task in a time zone and shows its next times", async () => {
    const place = newPlace();
    const res = await run("schedule", { schedule: "0 9 * * 1-5", type: "cron", prompt: "Summarise open PRs", tz: "Europe/Berlin" }, place);
    expect(res.ephemeral).toBe(false);
    expect(res.content).toMatch(/^⏰ Scheduled task `#\d+`: cron `0 9 \* \* 1-5` \(Europe\/Berlin\)/);
    expect(res.content).toMatch(/Next: <t:\d+:f>, <t:\d+:f>, <t:\d+:f>/);
    const [t] = await tasksOf(place.channelId);
    expect(t).toMatchObject({ type: "cron", schedule: "0 9 * * 1-5", tz: "Europe/Berlin", prompt: "Summarise open PRs", enabled: 1 });
  });

  it("creates interval and once tasks", async () => {
    const place = newPlace();
    await run("schedule", { schedule: "1h30m", type: "interval", prompt: "a" }, place);
    await run("schedule", { schedule: "in 10m", type: "once", prompt: "b" }, place);
    expect((await tasksOf(place.channelId)).map((t: any) => t.type)).toEqual(["interval", "once"]);
  });

  it("refuses bad schedules, saying what was wrong, with an example", async () => {
    const place = newPlace();
    const example = "/loop schedule schedule: 0 9 * * 1-5";
    expectError(await run("schedule", { schedule: "every day", type: "cron", prompt: "x" }, place), /cron needs 5 fields/i, example);
    expectError(await run("schedule", { schedule: "0 9 * * *", type: "cron", prompt: "x", tz: "Mars/Olympus" }, place), /not an IANA time zone/i, example);
    expectError(await run("schedule", { schedule: "5s", type: "interval", prompt: "x" }, place), /shorter than the minimum/i, example);
    expectError(await run("schedule", { schedule: "2001-01-01T00:00:00Z", type: "once", prompt: "x" }, place), /in the past/i, example);
    expectError(await run("schedule", { schedule: "30m", type: "hourly", prompt: "x" }, place), /type/, example);
    expectError(await run("schedule", { schedule: "30m", type: "interval", prompt: "x", tz: "UTC" }, place), /tz applies only to cron/i, example);
    expect(await tasksOf(place.channelId)).toEqual([]);
  });
});

describe("tasks and task", () => {
  it("lists only this channel's tasks", async () => {
    const { place, taskId } = await withTask();
    await withTask(newPlace(), { prompt: "someone else's" });
    const res = await run("tasks", {}, place);
    expect(res.ephemeral).toBe(true);
    expect(res.content).toContain("**Tasks in this channel** (1)");
    expect(res.content).toContain(`\`#${taskId}\` interval \`30m\``);
    expect(res.content).not.toContain("someone else's");
  });

  it("says how to start when there are none", async () => {
    expect((await run("tasks", {}, newPlace())).content).toMatch(/No tasks .*\/loop schedule/);
  });

  it("shows a task's schedule, next times and recent runs", async () => {
    const { place, taskId } = await withTask();
    const ch = await channelRow(place.channelId);
    await env.DB.prepare("INSERT INTO runs (task_id, channel_id, trigger, status, prompt, error, created_at, started_at, finished_at) VALUES (?, ?, 'schedule', 'failed', 'p', 'timed out after 300 s', ?, ?, ?)")
      .bind(taskId, ch.id, Date.now() - 400_000, Date.now() - 390_000, Date.now() - 90_000)
      .run();
    const res = await run("task", { task_id: taskId }, place);
    expect(res.content).toContain(`**Task #${taskId}** ✅ enabled`);
    expect(res.content).toContain("Schedule: interval `30m`");
    expect(res.content.match(/<t:\d+:f>/g)).toHaveLength(5);
    expect(res.content).toMatch(/❌ `#\d+` failed <t:\d+:R> · 5m 00s — timed out after 300 s/);
  });

  it("a task of another channel is not found here", async () => {
    const { taskId } = await withTask();
    expectError(await run("task", { task_id: taskId }, newPlace()), new RegExp(`task #${taskId} is not one of this channel's tasks`, "i"));
    expectError(await run("cancel", { task_id: taskId }, newPlace()), new RegExp(`task #${taskId} is not one of this channel's tasks`, "i"));
  });

  it("refuses a task_id that is not a number, with an example", async () => {
    expectError(await run("task", { task_id: "twelve" }, newPlace()), /task_id must be a task number/i, "/loop task task_id: 12");
  });
});

describe("cancel, toggle, edit", () => {
  it("cancel deletes the task", async () => {
    const { place, taskId } = await withTask();
    const res = await run("cancel", { task_id: taskId }, place);
    expect(res.ephemeral).toBe(false);
    expect(res.content).toMatch(new RegExp(`Cancelled task \`#${taskId}\``));
    expect(await tasksOf(place.channelId)).toEqual([]);
    expectError(await run("cancel", { task_id: taskId }, place), /not one of this channel's tasks/);
  });

  it("toggle pauses and resumes, and refuses a task that is not here", async () => {
    const { place, taskId } = await withTask();
    expectError(await run("toggle", { task_id: 999_999 }, place), /#999999 is not one of this channel's tasks/);
    expect((await run("toggle", { task_id: taskId }, place)).content).toContain("is paused");
    expect((await tasksOf(place.channelId))[0].enabled).toBe(0);
    expect((await run("toggle", { task_id: taskId }, place)).content).toMatch(/is on: next <t:\d+:R>/);
    expect((await tasksOf(place.channelId))[0].enabled).toBe(1);
  });

  it("edit changes schedule, type and prompt", async () => {
    const { place, taskId } = await withTask();
    const res = await run("edit", { task_id: taskId, schedule: "0 * * * *", type: "cron", prompt: "new prompt" }, place);
    expect(res.content).toContain(`Updated task \`#${taskId}\`: cron \`0 * * * *\``);
    expect((await tasksOf(place.channelId))[0]).toMatchObject({ type: "cron", schedule: "0 * * * *", prompt: "new prompt" });
  });

  it("edit refuses no changes, and a new type without a schedule", async () => {
    const { place, taskId } = await withTask();
    expectError(await run("edit", { task_id: taskId }, place), /nothing to change/i, "/loop edit task_id: 12");
    expectError(await run("edit", { task_id: taskId, type: "cron" }, place), /needs a new schedule/i, "/loop edit");
    expect((await tasksOf(place.channelId))[0]).toMatchObject({ type: "interval", schedule: "30m" });
  });
});

describe("dir, session, status", () => {
  it("dir binds the channel to a directory and forgets its session", async () => {
    const place = newPlace();
    await run("status", {}, place);
    await env.DB.prepare("UPDATE channels SET session_id = 'old-session' WHERE id = ?").bind(place.channelId).run();
    const dir = `/home/me/projects/${crypto.randomUUID()}`;
    const res = await run("dir", { path: `${dir}/` }, place);
    expect(res.content).toContain(`now works in \`${dir}\``);
    expect(await channelRow(place.channelId)).toMatchObject({ dir_path: dir, session_id: null });
    expect((await run("dir", { path: dir }, place)).content).toContain("already works in");
    expect((await run("status", {}, place)).content).toContain(`📁 Directory: \`${dir}\``);
  });

  it("dir refuses a relative path and a directory bound elsewhere", async () => {
    const a = newPlace();
    expectError(await run("dir", { path: "projects/api" }, a), /absolute path/i, "/loop dir path:");
    const dir = `/srv/${crypto.randomUUID()}`;
    await run("dir", { path: dir }, a);
    expectError(await run("dir", { path: dir }, newPlace()), /already bound to another Loop channel/i);
  });

  it("a thread works in its parent's directory unless it has its own", async () => {
    const parent = newPlace();
    const dir = `/srv/${crypto.randomUUID()}`;
    await run("dir", { path: dir }, parent);
    const thread = newPlace({ thread: { parentId: parent.channelId } });
    expect((await run("status", {}, thread)).content).toContain(`\`${dir}\` (the parent channel's)`);
  });

  it("session reset forgets the Claude session", async () => {
    const place = newPlace();
    await run("status", {}, place);
    await env.DB.prepare("UPDATE channels SET session_id = 'sess-9' WHERE id = ?").bind(place.channelId).run();
    expect((await run("status", {}, place)).content).toContain("continuing `sess-9`");
    expect((await run("session reset", {}, place)).content).toContain("Session reset");
    expect((await channelRow(place.channelId)).session_id).toBeNull();
  });

  it("status shows runs waiting and tasks", async () => {
    const { place } = await withTask();
    await askAndWait("one", place);
    await askAndWait("two", place);
    const res = await run("status", {}, place);
    expect(res.content).toContain("⏰ Tasks: 1 on, 0 paused");
    expect(res.content).toMatch(/waiting/);
  });
});

describe("templates", () => {
  it("adds a template to the channel once, and lists templates", async () => {
    const name = `t-${crypto.randomUUID().slice(0, 8)}`;
    expect((await admin("PUT", `/api/templates/${name}`, { description: "Daily summary", schedule: "0 17 * * *", type: "cron", prompt: "Summarise today" })).status).toBe(201);
    const place = newPlace();
    const res = await run("template add", { name }, place);
    expect(res.content).toMatch(new RegExp(`Added template \`${name}\` as task \`#\\d+\`: cron \`0 17 \\* \\* \\*\``));
    expect((await run("template add", { name }, place)).content).toMatch(/already in this channel/);
    expect(await tasksOf(place.channelId)).toHaveLength(1);
    const list = await run("template list", {}, place);
    expect(list.content).toContain(`\`${name}\` · cron \`0 17 * * *\` — Daily summary`);
  });

  it("refuses unknown and malformed template names", async () => {
    expectError(await run("template add", { name: "no-such-template" }, newPlace()), /there is no template named no-such-template/i);
    expectError(await run("template add", { name: "Bad Name" }, newPlace()), /template names are lowercase/i, "/loop template add name:");
  });
});

describe("owners and permissions", () => {
  it("bootstrap: everyone is an owner until owners are named", async () => {
    const place = newPlace();
    const res = await run("schedule", { schedule: "1h", type: "interval", prompt: "x" }, place);
    expect(res.content).toMatch(/Scheduled/);
    expect((await run("owner list", {}, place)).content).toContain("bootstrap mode");
  });

  it("owner add ends bootstrap, making both the caller and the named user owners", async () => {
    const alice = newPlace();
    const bob = snowflake();
    const res = await run("owner add", { user: bob }, alice);
    expect(res.content).toBe(`👑 Owners: <@${alice.userId}>, <@${bob}>\n-# Bootstrap mode is over: only owners can now manage tasks, templates, the directory and the session.`);
    expect(JSON.parse((await channelRow(alice.channelId)).owner_ids)).toEqual([alice.userId, bob]);
  });

  it("members ask, read and list; only owners manage", async () => {
    const { place: owner, taskId } = await withTask();
    await run("owner add", { user: owner.userId }, owner);
    const member: Place = { ...owner, userId: snowflake() };

    // Reading and asking are open to members.
    expect((await send(command("ask", { prompt: "hi" }, member))).body).toEqual({ type: 5 });
    expect((await run("tasks", {}, member)).content).toContain(`#${taskId}`);
    expect((await run("task", { task_id: taskId }, member)).content).toContain(`Task #${taskId}`);
    expect((await run("status", {}, member)).content).toContain(`Owners: <@${owner.userId}>`);
    expect((await run("template list", {}, member)).ephemeral).toBe(true);
    expect((await run("owner list", {}, member)).content).toContain(`<@${owner.userId}>`);

    const refused: [string, Record<string, string | number>][] = [
      ["schedule", { schedule: "1h", type: "interval", prompt: "x" }],
      ["cancel", { task_id: taskId }],
      ["toggle", { task_id: taskId }],
      ["edit", { task_id: taskId, prompt: "y" }],
      ["dir", { path: "/tmp/x" }],
      ["template add", { name: "anything" }],
      ["session reset", {}],
      ["owner add", { user: member.userId }],
      ["owner remove", { user: owner.userId }],
    ];
    for (const [path, options] of refused) {
      const res = await run(path, options, member);
      expect(res.ephemeral, path).toBe(true);
      expect(res.content, path).toMatch(new RegExp(`^🔒 Only this channel's owners can .+ Owners: <@${owner.userId}>\\.$`));
    }
    expect(await tasksOf(owner.channelId)).toHaveLength(1);
    expect((await tasksOf(owner.channelId))[0].prompt).toBe("check the build");

    // The owner still can.
    expect((await run("toggle", { task_id: taskId }, owner)).content).toContain("paused");
  });

  it("a member with Discord's Administrator permission counts as an owner", async () => {
    const owner = newPlace();
    await run("owner add", { user: owner.userId }, owner);
    const admin: Place = { ...owner, userId: snowflake(), permissions: String(1n << 3n) };
    expect((await run("schedule", { schedule: "1h", type: "interval", prompt: "x" }, admin)).content).toMatch(/Scheduled/);
  });

  it("owners are added and removed, but never the last one", async () => {
    const a = newPlace();
    const b = snowflake();
    await run("owner add", { user: b }, a);
    expect((await run("owner remove", { user: b }, a)).content).toBe(`👑 Removed <@${b}>. Owners: <@${a.userId}>`);
    expectError(await run("owner remove", { user: a.userId }, a), /last owner cannot be removed/i);
    expectError(await run("owner remove", { user: b }, a), /not an owner/i);
    expectError(await run("owner add", { user: "not-a-user" }, a), /user must be a Discord user/i, "/loop owner add user:");
  });

  it("a thread shares its parent's owners", async () => {
    const parent = newPlace();
    await run("owner add", { user: parent.userId }, parent);
    const stranger = newPlace({ thread: { parentId: parent.channelId } });
    expect((await run("schedule", { schedule: "1h", type: "interval", prompt: "x" }, stranger)).content).toMatch(/^🔒/);
    const ownerInThread: Place = { ...stranger, userId: parent.userId };
    expect((await run("schedule", { schedule: "1h", type: "interval", prompt: "x" }, ownerInThread)).content).toMatch(/Scheduled/);
  });

  it("stop: members stop their own runs, owners any", async () => {
    const owner = newPlace();
    await run("owner add", { user: owner.userId }, owner);
    const alice: Place = { ...owner, userId: snowflake() };
    const bob: Place = { ...owner, userId: snowflake() };
    expect((await run("stop", {}, alice)).content).toMatch(/Nothing is running/);

    await askAndWait("alice's question", alice);
    const refused = await run("stop", {}, bob);
    expect(refused.content).toMatch(/^🔒 Run #\d+ was not started by you/);
    const stopped = await run("stop", {}, alice);
    expect(stopped.content).toMatch(/^⏹️ Run #\d+ was cancelled before it started/);

    await askAndWait("bob's question", bob);
    expect((await run("stop", {}, owner)).content).toMatch(/cancelled before it started/);
    expect((await runsOf(owner.channelId)).map((r: any) => r.status)).toEqual(["cancelled", "cancelled"]);
  });
});

describe("autocomplete", () => {
  async function complete(path: string, options: Record<string, string | number>, focused: string, place: Place) {
    const res = await send(command(path, options, place, focused));
    expect(res.body.type).toBe(8);
    return res.body.data.choices as { name: string; value: string | number }[];
  }

  it("offers this channel's tasks for task_id, filtered by id or prompt", async () => {
    const place = newPlace();
    const { taskId: a } = await withTask(place, { prompt: "deploy the site" });
    const { taskId: b } = await withTask(place, { prompt: "check the queue" });
    await withTask(newPlace(), { prompt: "deploy elsewhere" });

    const all = await complete("cancel", { task_id: "" }, "task_id", place);
    expect(all.map((c) => c.value)).toEqual([b, a]);
    expect(all[0]!.name).toBe(`#${b} interval 30m — check the queue`);
    expect((await complete("edit", { task_id: "deploy" }, "task_id", place)).map((c) => c.value)).toEqual([a]);
    expect((await complete("toggle", { task_id: `#${a}` }, "task_id", place)).map((c) => c.value)).toContain(a);
    expect(await complete("task", { task_id: "nothing matches this" }, "task_id", place)).toEqual([]);
  });

  it("offers templates by name", async () => {
    const name = `auto-${crypto.randomUUID().slice(0, 8)}`;
    await admin("PUT", `/api/templates/${name}`, { description: "Automatic thing", schedule: "1h", type: "interval", prompt: "p" });
    const choices = await complete("template add", { name: name.slice(0, 9) }, "name", newPlace());
    expect(choices).toContainEqual({ name: `${name} — Automatic thing`, value: name });
  });
});
