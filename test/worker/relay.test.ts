/**
 * The conversation relay's Worker side, in workerd with real D1 and Durable Objects: the
 * relay lease (one holder, hand-over on expiry or release, shown in /api/health), and
 * POST /runner/v1/discord/messages turning messages into runs as /loop ask does, answered
 * as replies in the fake Discord API, deduped by message id, bots and strangers ignored,
 * DMs gated, a run's thread continuing the run's session.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { RelayBatchResult, RelayLease, type RelayMessageInput } from "../../protocol/relay.ts";
import { Job } from "../../protocol/runner.ts";
import { DM_NEEDS_DIR, DM_REFUSED } from "../../worker/relay/accept.ts";
import { admin, discordCalls, GUILD_ID, newPlace, run, snowflake, waitForCalls } from "./discord-helpers.ts";

const BOT = "900000000000000009";

async function post(method: string, path: string, token: string, body?: unknown) {
  const res = await SELF.fetch(`http://loop.test${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function registerRunner(name: string, labels: string[] = []): Promise<string> {
  const r = await admin("POST", "/api/runners", { name: `${name}-${crypto.randomUUID().slice(0, 8)}`, labels });
  expect(r.status).toBe(201);
  return r.body.token as string;
}

const lease = async (token: string, instance: string, dm_dir: string | null = null) => {
  const r = await post("POST", "/runner/v1/relay/lease", token, { instance, dm_dir });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return RelayLease.parse(r.body);
};

let relayToken: string;
const INSTANCE = "relay-main-instance";

function message(over: Partial<RelayMessageInput> & { channel_id: string }): RelayMessageInput {
  const author = over.author ?? { id: snowflake(), username: "alice", display_name: "Alice", bot: false };
  return { id: snowflake(), guild_id: GUILD_ID, author, content: `<@${BOT}> what changed?`, reasons: ["mention"], at: Date.now(), ...over };
}

async function relay(messages: RelayMessageInput[], token = relayToken, instance = INSTANCE) {
  return post("POST", "/runner/v1/discord/messages", token, { instance, bot_user_id: BOT, messages });
}

async function relayOk(messages: RelayMessageInput[]) {
  const r = await relay(messages);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return RelayBatchResult.parse(r.body).results;
}

const runsFor = (discordChannelId: string) =>
  env.DB.prepare("SELECT r.* FROM runs r JOIN channels c ON c.id = r.channel_id WHERE c.discord_channel_id = ? ORDER BY r.id")
    .bind(discordChannelId)
    .all<{ id: number; prompt: string; trigger: string; requested_by: string; discord_message_id: string; status: string }>()
    .then((r) => r.results);

/** A server channel Loop knows, with a runner of its own for its jobs (and its threads'). */
async function knownChannel() {
  const place = newPlace();
  await run("status", {}, place);
  const label = `relay-${crypto.randomUUID().slice(0, 8)}`;
  expect((await admin("PATCH", `/api/channels/${place.channelId}`, { runner_label: label })).status).toBe(200);
  const token = await registerRunner(label, [label]);
  const runner = {
    async claim(): Promise<Job> {
      const res = await post("POST", "/runner/v1/claim", token, { wait_ms: 5_000 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return Job.parse(res.body);
    },
    async complete(job: Job, extra: object = {}) {
      const body = { lease_id: job.lease_id, status: "succeeded", result_text: "done", session_id: "sess-1", ...extra };
      const res = await post("POST", `/runner/v1/runs/${job.run_id}/complete`, token, body);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    },
  };
  return { place, runner };
}

describe("relay lease", () => {
  it("goes to one runner at a time, is renewed by its holder, and passes on release or expiry", async () => {
    const a = await registerRunner("relay-a");
    const b = await registerRunner("relay-b");
    const first = await lease(a, "instance-a-0001");
    expect(first.granted).toBe(true);
    expect(first.ttl_ms).toBeGreaterThan(0);

    const refused = await lease(b, "instance-b-0001");
    expect(refused.granted).toBe(false);
    expect(refused.holder?.instance).toBe("instance-a-0001");

    const renewed = await lease(a, "instance-a-0001");
    expect(renewed.granted).toBe(true);
    expect(renewed.holder!.acquired_at).toBe(first.holder!.acquired_at);
    expect(renewed.holder!.expires_at).toBeGreaterThanOrEqual(first.holder!.expires_at);

    // A restarted process of the same runner is a new instance: it waits like anyone else.
    expect((await lease(a, "instance-a-0002")).granted).toBe(false);

    const health = await (await SELF.fetch("http://loop.test/api/health")).json<any>();
    expect(health.relay).toMatchObject({ runner_id: first.holder!.runner_id, runner_name: expect.stringMatching(/^relay-a-/) });

    // The holder stops cleanly: the next runner takes over at once.
    const released = await post("POST", "/runner/v1/relay/release", a, { instance: "instance-a-0001" });
    expect(released.status).toBe(200);
    expect((await lease(b, "instance-b-0001")).granted).toBe(true);

    // The holder dies: once its lease runs out, another runner takes over.
    await runInDurableObject(env.DISPATCHER.getByName("default"), (_o, state) => {
      state.storage.sql.exec("UPDATE relay_lease SET expires_at = ?", Date.now() - 1);
    });
    const health2 = await (await SELF.fetch("http://loop.test/api/health")).json<any>();
    expect(health2.relay).toBeNull();
    expect((await lease(a, "instance-a-0003")).granted).toBe(true);
    expect((await lease(b, "instance-b-0001")).granted).toBe(false);
    await post("POST", "/runner/v1/relay/release", a, { instance: "instance-a-0003" });
  });

  it("/loop status names the holder from D1's copy of the lease: written on a grant, a release and a lapse, never on a renewal", async () => {
    // Counts every write to the copy (issue 15: a renewal every 10 s must not cost a D1 row).
    await env.DB.exec("CREATE TABLE IF NOT EXISTS test_relay_writes (op TEXT)");
    for (const op of ["INSERT", "UPDATE", "DELETE"]) {
      await env.DB.exec(`CREATE TRIGGER IF NOT EXISTS test_relay_${op.toLowerCase()} AFTER ${op} ON relay_holder BEGIN INSERT INTO test_relay_writes VALUES ('${op}'); END;`);
    }
    const writes = async () => (await env.DB.prepare("SELECT count(*) AS n FROM test_relay_writes").first<{ n: number }>())!.n;
    const relayLine = async () => (await run("status", {}, place)).content.split("\n").find((l) => l.startsWith("📡 Relay:"));
    const place = newPlace();
    const before = await writes();
    expect(await relayLine()).toMatch(/Relay: none/);

    const a = await registerRunner("mirror-a");
    const granted = await lease(a, "instance-mirror-a1");
    expect(granted.granted).toBe(true);
    expect(await relayLine()).toContain(`runner \`${granted.holder!.runner_name}\` holds the Gateway`);
    expect(await writes()).toBe(before + 1);

    for (let i = 0; i < 3; i++) expect((await lease(a, "instance-mirror-a1")).granted).toBe(true);
    expect(await writes()).toBe(before + 1);
    // Holding the relay arms no alarm (one per lease expiry would cost thousands of DO requests
    // a day); the sweep's reap finds the lease renewed and leaves the copy as it is.
    expect(await runDurableObjectAlarm(env.DISPATCHER.getByName("default"))).toBe(false);
    await env.DISPATCHER.getByName("default").reap();
    expect(await relayLine()).toContain("holds the Gateway");
    expect(await writes()).toBe(before + 1);

    await post("POST", "/runner/v1/relay/release", a, { instance: "instance-mirror-a1" });
    expect(await relayLine()).toMatch(/Relay: none/);
    expect(await writes()).toBe(before + 2);

    // A holder that dies without a release: the minute's sweep (reap) drops the copy.
    const b = await registerRunner("mirror-b");
    const second = await lease(b, "instance-mirror-b1");
    expect(await relayLine()).toContain(`runner \`${second.holder!.runner_name}\` holds the Gateway`);
    await runInDurableObject(env.DISPATCHER.getByName("default"), (_o, state) => {
      state.storage.sql.exec("UPDATE relay_lease SET expires_at = ?", Date.now() - 1);
    });
    expect(await relayLine()).toContain("holds the Gateway");
    await env.DISPATCHER.getByName("default").reap();
    expect(await relayLine()).toMatch(/Relay: none/);
    expect(await writes()).toBe(before + 4);
  });

  it("refuses messages from a runner that does not hold the lease (409), and bad batches with 422 naming the field", async () => {
    const stranger = await registerRunner("relay-stranger");
    const place = newPlace();
    const r = await relay([message({ channel_id: place.channelId })], stranger, "instance-stranger");
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe("relay_lease_lost");
    expect(await runsFor(place.channelId)).toEqual([]);

    relayToken = await registerRunner("relay-main");
    expect((await lease(relayToken, INSTANCE)).granted).toBe(true);
    const bad = await relay([{ ...message({ channel_id: place.channelId }), id: "not-a-snowflake" }]);
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("messages.0.id");
    const tooLong = await relay([message({ channel_id: place.channelId, content: "x".repeat(4_001) })]);
    expect(tooLong.status).toBe(422);
    expect(tooLong.body.error.field).toBe("messages.0.content");
    expect(await runsFor(place.channelId)).toEqual([]);
  });
});

describe("relayed messages", { timeout: 30_000 }, () => {
  beforeAll(async () => {
    relayToken ??= await registerRunner("relay-main");
    expect((await lease(relayToken, INSTANCE)).granted).toBe(true);
  });

  it("a mention, a reply and !loop each start exactly one run, answered as a reply to the message, with typing first", async () => {
    const { place, runner } = await knownChannel();
    const author = { id: place.userId, username: "alice", display_name: "Alice", bot: false };
    const mention = message({ channel_id: place.channelId, author });
    const [res] = await relayOk([mention]);
    expect(res).toMatchObject({ id: mention.id, outcome: "run", run_id: expect.any(Number) });
    const [row] = await runsFor(place.channelId);
    expect(row).toMatchObject({ trigger: "discord", requested_by: `discord:${place.userId}`, discord_message_id: mention.id });
    expect(row!.prompt).toBe("Alice says:\nwhat changed?");

    await waitForCalls(`/channels/${place.channelId}/typing`, (c) => c.length === 1);
    const job = await runner.claim();
    expect(job.run_id).toBe(res!.run_id);
    await runner.complete(job, { result_text: "Three commits." });
    const replies = await waitForCalls(`/channels/${place.channelId}/messages`, (c) => c.some((x) => x.body?.content?.startsWith("Three commits.")));
    expect(replies[0]!.method).toBe("POST");
    expect(replies[0]!.body.message_reference).toEqual({ message_id: mention.id, fail_if_not_exists: false });

    const reply = message({ channel_id: place.channelId, author, content: "and the one before?", reasons: ["reply"], referenced_message_id: replies[0]!.response.id });
    const command = message({ channel_id: place.channelId, author, content: "!loop run the tests", reasons: ["command"] });
    const results = await relayOk([reply, command]);
    expect(results.map((r) => r.outcome)).toEqual(["run", "run"]);
    const rows = await runsFor(place.channelId);
    expect(rows.map((r) => r.prompt)).toEqual(["Alice says:\nwhat changed?", "Alice says:\nand the one before?", "Alice says:\nrun the tests"]);
  });

  it("a message relayed twice (resumed Gateway session, retried batch) is one run", async () => {
    const { place } = await knownChannel();
    const m = message({ channel_id: place.channelId });
    const [a, b] = await Promise.all([relay([m]), relay([m])]);
    const outcomes = [a, b].map((r) => RelayBatchResult.parse(r.body).results[0]!);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(["duplicate", "run"]);
    expect(outcomes[0]!.run_id).toBe(outcomes[1]!.run_id);
    const [again] = await relayOk([m]);
    expect(again).toMatchObject({ outcome: "duplicate", run_id: outcomes[0]!.run_id });
    expect(await runsFor(place.channelId)).toHaveLength(1);
    await waitForCalls(`/channels/${place.channelId}/typing`, (c) => c.length >= 1);
    expect(await discordCalls(`/channels/${place.channelId}/typing`)).toHaveLength(1);
  });

  it("ignores bots, Loop's own messages and threads Loop did not create, writing nothing", async () => {
    const { place } = await knownChannel();
    const thread = snowflake();
    const results = await relayOk([
      message({ channel_id: place.channelId, author: { id: snowflake(), username: "ci", display_name: "CI", bot: true } }),
      message({ channel_id: place.channelId, author: { id: BOT, username: "loop", display_name: "Loop", bot: false } }),
      message({ channel_id: thread, parent_id: place.channelId, content: "just chatting", reasons: ["thread"] }),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(["ignored", "ignored", "ignored"]);
    expect(await runsFor(place.channelId)).toEqual([]);
    expect(await env.DB.prepare("SELECT id FROM channels WHERE id = ?").bind(thread).first()).toBeNull();
  });

  it("a follow-up in a scheduled run's thread resumes that run's session, sharing the parent's Claude state", async () => {
    const { place, runner } = await knownChannel();
    // A scheduled run fires; its live message opens a thread, which Loop records.
    const task = await admin("POST", "/api/tasks", { channel_id: place.channelId, type: "once", schedule: "in 10m", prompt: "nightly report" });
    expect(task.status).toBe(201);
    await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(Date.now() - 1_000, task.body.id).run();
    const [fired] = await env.CHANNEL_SESSION.getByName(place.channelId).fire(place.channelId, "alarm");
    const runId = fired!.runId;
    const [created] = await waitForCalls(`/channels/${place.channelId}/threads`, (c) => c.length === 1);
    const thread: string = created!.response.id;
    const row = await env.DB.prepare("SELECT parent_id, origin_run_id FROM channels WHERE id = ?").bind(thread).first();
    expect(row).toEqual({ parent_id: place.channelId, origin_run_id: runId });
    const job1 = await runner.claim();
    expect(job1.run_id).toBe(runId);
    await runner.complete(job1, { session_id: "sess-nightly" });

    const [res] = await relayOk([message({ channel_id: thread, parent_id: place.channelId, content: "why did it fail?", reasons: ["thread"] })]);
    expect(res!.outcome).toBe("run");
    const job2 = await runner.claim();
    expect(job2.channel_id).toBe(thread);
    expect(job2.session_id).toBe("sess-nightly");
    expect(job2.state_key).toBe(place.channelId);
    await runner.complete(job2, { session_id: "sess-nightly" });

    // /loop session reset in the thread resets the thread only.
    const threadPlace = { ...place, channelId: thread, thread: { parentId: place.channelId } };
    await run("session reset", {}, threadPlace);
    await relayOk([message({ channel_id: thread, parent_id: place.channelId, content: "start over", reasons: ["thread"] })]);
    const job3 = await runner.claim();
    expect(job3.session_id).toBeNull();
    const parent = await env.DB.prepare("SELECT session_id FROM channels WHERE id = ?").bind(place.channelId).first<{ session_id: string }>();
    expect(parent!.session_id).toBe("sess-nightly");
  });

  it("DMs: refused once a minute for a stranger; an owner without a directory is told how to set one; with dm_dir it runs there", async () => {
    const dm = snowflake();
    const stranger = { id: snowflake(), username: "eve", display_name: "Eve", bot: false };
    const dmMsg = (author: typeof stranger, content = "hello") => message({ channel_id: dm, guild_id: null, author, content, reasons: ["dm"] });
    const refused = await relayOk([dmMsg(stranger), dmMsg(stranger)]);
    expect(refused.map((r) => r.outcome)).toEqual(["refused", "refused"]);
    const refusals = await waitForCalls(`/channels/${dm}/messages`, (c) => c.length >= 1);
    expect(refusals).toHaveLength(1);
    expect(refusals[0]!.body.content).toBe(DM_REFUSED);

    // An owner of a server channel may DM Loop.
    const { place } = await knownChannel();
    await run("owner add", { user: place.userId }, place);
    const ownerDm = snowflake();
    const owner = { id: place.userId, username: "olga", display_name: "Olga", bot: false };
    const [noDir] = await relayOk([message({ channel_id: ownerDm, guild_id: null, author: owner, content: "hi", reasons: ["dm"] })]);
    expect(noDir!.outcome).toBe("answered");
    const answer = await waitForCalls(`/channels/${ownerDm}/messages`, (c) => c.length >= 1);
    expect(answer[0]!.body.content).toBe(DM_NEEDS_DIR);

    // With the relay's dm_dir, the DM runs there.
    expect((await lease(relayToken, INSTANCE, "/srv/dm")).granted).toBe(true);
    const [ran] = await relayOk([message({ channel_id: ownerDm, guild_id: null, author: owner, content: "hi again", reasons: ["dm"] })]);
    expect(ran!.outcome).toBe("run");
    const dmRunner = await registerRunner("dm-runner");
    const claimed = await post("POST", "/runner/v1/claim", dmRunner, { wait_ms: 5_000 });
    const job = Job.parse(claimed.body);
    expect(job).toMatchObject({ channel_id: ownerDm, workdir: "/srv/dm" });
    expect(job.prompt).toBe("Olga says:\nhi again");
    expect((await lease(relayToken, INSTANCE, null)).granted).toBe(true);
  });

  it("carries the channel's messages since Loop's last run as context, and says when a message was cut", async () => {
    const { place } = await knownChannel();
    const old = snowflake(Date.now() - 3_600_000);
    const results = await relayOk([
      message({
        channel_id: place.channelId,
        content: `<@${BOT}> ${"y".repeat(10)}`,
        truncated: true,
        attachments: ["https://cdn.discordapp.com/attachments/1/2/log.txt"],
        context: [
          { id: old, author: "Bob", content: "an hour ago" },
          { id: snowflake(), author: "Bob", content: "the deploy failed" },
        ],
      }),
    ]);
    expect(results[0]!.outcome).toBe("run");
    const [row] = await runsFor(place.channelId);
    expect(row!.prompt).toContain("Bob: an hour ago"); // no earlier run: everything counts
    expect(row!.prompt).toContain("Bob: the deploy failed\n\nAlice says:\nyyyyyyyyyy\n(The message was longer than 4,000 characters and was cut there.)");
    expect(row!.prompt).toContain("Attachments:\nhttps://cdn.discordapp.com/attachments/1/2/log.txt");

    // The next message's context starts after that run.
    await new Promise((r) => setTimeout(r, 5));
    await relayOk([message({ channel_id: place.channelId, context: [{ id: old, author: "Bob", content: "an hour ago" }, { id: snowflake(), author: "Carol", content: "fixed it" }] })]);
    const rows = await runsFor(place.channelId);
    expect(rows[1]!.prompt).not.toContain("an hour ago");
    expect(rows[1]!.prompt).toContain("Carol: fixed it");
  });
});
