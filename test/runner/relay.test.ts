// The conversation relay end to end: a real Worker (wrangler dev), real runners relaying a
// fake Discord Gateway (test/fakes/discord-gateway.ts) to it, the fake Discord REST API for
// the answers, real Claude in Docker against the fake Anthropic API. The fake REST echoes
// every message the bot posts back over the Gateway, as Discord does, so the relay must
// ignore Loop's own messages.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationText, isMainTurn, lastUserText } from "../fakes/anthropic.ts";
import { BOT_USER_ID, startFakeDiscord, type FakeDiscord } from "../fakes/discord.ts";
import { startFakeGateway, type FakeGateway } from "../fakes/discord-gateway.ts";
import { agentDir, configFile, runnerConfig, setRules, setupEnv, startTestRunner, waitFor, waitForRun, type Env, type TestRunner } from "./helpers.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const BOT_TOKEN = "relay-test-bot-token";
const GUILD = "910000000000000001";
const DISCORD_EPOCH = 1_420_070_400_000n;
let counter = 0;
const snowflake = () => String(((BigInt(Date.now()) - DISCORD_EPOCH) << 22n) | BigInt(++counter));

let env: Env;
let discord: FakeDiscord;
let gw: FakeGateway;
const runners: TestRunner[] = [];
const children: ChildProcess[] = [];
const allowedDmUser = snowflake();
const dmChannels = new Set<string>();

beforeAll(async () => {
  discord = await startFakeDiscord({ botToken: BOT_TOKEN });
  gw = await startFakeGateway({ botToken: BOT_TOKEN, botUserId: BOT_USER_ID });
  gw.guilds.push({ id: GUILD, threads: [] });
  discord.gatewayUrl = gw.url;
  // Discord sends the bot its own messages and threads over the Gateway too.
  discord.onMessage = (m) => gw.dispatch("MESSAGE_CREATE", { ...m, guild_id: dmChannels.has(m.channel_id) ? undefined : GUILD, mentions: [], attachments: [], embeds: [], mention_roles: [] });
  discord.onThread = (t) => gw.dispatch("THREAD_CREATE", { ...t, guild_id: GUILD });
  env = await setupEnv({
    vars: { DISCORD_API_BASE: discord.url, DISCORD_BOT_TOKEN: BOT_TOKEN, RELAY_LEASE_TTL_SECONDS: "3", DISCORD_DM_USERS: allowedDmUser },
  });
  // The relay every test but the last talks through (it also runs their jobs).
  const relay = await relayRunner("relay-one", { dm_dir: agentDir(env, "dm") });
  await waitFor("the relay to connect", () => relay.handle.relay?.active, 30_000);
}, 300_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const r of runners) await r.stop();
  await env?.close();
  await gw?.close();
  await discord?.close();
});

async function relayRunner(name: string, extra: object = {}): Promise<TestRunner> {
  const res = await env.api("POST", "/api/runners", { name, labels: [] });
  const config = runnerConfig(env, res.body.token, { discord_gateway: true, discord_token: BOT_TOKEN, discord_api_base: discord.url, ...extra });
  const r = await startTestRunner(config);
  runners.push(r);
  return r;
}

interface Msg {
  channel_id: string;
  content: string;
  guild?: boolean;
  author?: { id: string; username: string; bot?: boolean };
  mentionsBot?: boolean;
  replyTo?: { id: string; author: { id: string } };
}

function send(m: Msg): string {
  const id = snowflake();
  const author = m.author ?? { id: "920000000000000001", username: "alice" };
  gw.dispatch("MESSAGE_CREATE", {
    id,
    type: m.replyTo ? 19 : 0,
    channel_id: m.channel_id,
    ...(m.guild === false ? {} : { guild_id: GUILD, member: { nick: null, roles: [] } }),
    author: { ...author, global_name: author.username === "alice" ? "Alice" : null, discriminator: "0", avatar: null },
    content: m.content,
    mentions: m.mentionsBot ? [{ id: BOT_USER_ID, username: "loop" }] : [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    timestamp: new Date().toISOString(),
    ...(m.replyTo ? { referenced_message: m.replyTo, message_reference: { message_id: m.replyTo.id, channel_id: m.channel_id } } : {}),
  });
  return id;
}

const runsIn = async (discordChannelId: string): Promise<any[]> => {
  const res = await env.api("GET", `/api/runs?channel_id=${discordChannelId}`);
  return res.status === 200 ? res.body.runs : [];
};

/** The bot's reply to a message (its live message, posted with message_reference). */
const replyTo = (messageId: string) =>
  waitFor(`a reply to ${messageId}`, () => discord.calls.find((c) => c.method === "POST" && c.body?.message_reference?.message_id === messageId), 60_000);

describe("the relay", () => {
  it("a mention, a reply, !loop and a DM each start exactly one run, answered as a reply; a bot's message is ignored", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Answered." } }]);
    const relay = runners[0]!;
    await gw.waitForSessions(1);
    expect(gw.lastIntents! & (1 << 15)).toBeTruthy(); // message content

    const [c1, c2, c3, dm, c5] = [snowflake(), snowflake(), snowflake(), snowflake(), snowflake()];
    dmChannels.add(dm);
    const mention = send({ channel_id: c1, content: `<@${BOT_USER_ID}> what is this project?`, mentionsBot: true });
    const reply = send({ channel_id: c2, content: "tell me more", replyTo: { id: snowflake(), author: { id: BOT_USER_ID } } });
    const command = send({ channel_id: c3, content: "!loop list the files" });
    const direct = send({ channel_id: dm, guild: false, content: "hello from a DM", author: { id: allowedDmUser, username: "dana" } });
    send({ channel_id: c5, content: `<@${BOT_USER_ID}> ping`, mentionsBot: true, author: { id: "930000000000000001", username: "ci-bot", bot: true } });
    send({ channel_id: c5, content: "just chatting" });

    for (const [channel, id] of [[c1, mention], [c2, reply], [c3, command], [dm, direct]] as const) {
      await replyTo(id);
      const runs = await waitFor(`the run in ${channel}`, async () => {
        const r = await runsIn(channel);
        return r.length ? r : null;
      });
      expect(runs).toHaveLength(1);
      expect(await waitForRun(env, runs[0].id, 120_000)).toMatchObject({ status: "succeeded", result_text: "Answered.", trigger: "discord" });
    }
    expect((await runsIn(c1))[0].prompt).toBe("Alice says:\nwhat is this project?");
    expect(await runsIn(c5)).toEqual([]);
    // Loop's own replies came back over the Gateway and were not relayed as messages to Loop.
    const relayed = relay.lines.filter((l) => l.msg === "relay: message forwarded");
    expect(relayed.map((l) => l.fields.message_id).sort()).toEqual([mention, reply, command, direct].sort());
  }, 240_000);

  it("a disconnect mid-conversation, then RESUME replaying events (old and missed), gives no duplicate run", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Fine." } }]);
    const relay = runners[0]!;
    const channel = snowflake();
    const first = send({ channel_id: channel, content: "!loop first question" });
    await replyTo(first);
    gw.replayAll = true; // the resumed session replays everything, even what was delivered
    gw.drop();
    const missed = send({ channel_id: channel, content: "!loop asked while the relay was cut off" });
    await replyTo(missed);
    expect(gw.resumes).toBeGreaterThanOrEqual(1);
    const runs = await waitFor("both runs", async () => ((await runsIn(channel)).length >= 2 ? runsIn(channel) : null));
    for (const r of runs) await waitForRun(env, r.id, 120_000);
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await runsIn(channel)).toHaveLength(2);
    const outcomes = relay.lines.filter((l) => l.msg === "relay: message forwarded" && l.fields.message_id === first).map((l) => l.fields.outcome);
    expect(outcomes).toEqual(["run", "duplicate"]);
    gw.replayAll = false;
  }, 240_000);

  it("a follow-up in a scheduled run's thread resumes that run's session (claude --resume)", async () => {
    setRules(env, [
      { match: (r) => isMainTurn(r) && lastUserText(r).includes("nightly"), reply: { text: "Nightly: build is red." } },
      { match: isMainTurn, reply: { text: "Because the lockfile changed." } },
    ]);
    const parent = snowflake();
    const created = await env.api("POST", "/api/channels", { dir_path: agentDir(env, "nightly"), channel_id: parent });
    expect(created.status).toBe(201);
    const at = new Date(Date.now() + 2_000).toISOString();
    const task = await env.api("POST", "/api/tasks", { channel_id: parent, type: "once", schedule: at, prompt: "the nightly report" });
    expect(task.status, JSON.stringify(task.body)).toBe(201);
    const thread = await waitFor("the run's thread", () => discord.calls.find((c) => c.path === `/channels/${parent}/threads`)?.response, 30_000);
    const [queued] = await waitFor("the scheduled run", async () => ((await runsIn(parent)).length ? runsIn(parent) : null));
    const scheduled = await waitForRun(env, queued.id, 120_000);
    expect(scheduled).toMatchObject({ status: "succeeded", session_id: expect.any(String) });

    const followUp = send({ channel_id: thread.id, content: "why is it red?" });
    await replyTo(followUp);
    const [run] = await waitFor("the thread's run", async () => ((await runsIn(thread.id)).length ? runsIn(thread.id) : null));
    expect(await waitForRun(env, run.id, 120_000)).toMatchObject({ status: "succeeded", result_text: "Because the lockfile changed.", session_id: scheduled.session_id });
    // Claude was resumed: the model saw the scheduled run's conversation before the follow-up.
    const resumed = env.fake.messageRequests().filter(isMainTurn).find((r) => lastUserText(r).includes("why is it red?"))!;
    expect(conversationText(resumed)).toContain("the nightly report");
    expect(conversationText(resumed)).toContain("Nightly: build is red.");
  }, 240_000);

  it("SIGKILL of the relay runner hands the relay to another runner, which answers the next message", async () => {
    setRules(env, [{ match: isMainTurn, reply: { text: "Still here." } }]);
    await runners.shift()!.stop(); // a clean stop releases the lease
    const res = await env.api("POST", "/api/runners", { name: "relay-proc", labels: [] });
    const configPath = join(env.base, "relay-runner.json");
    writeFileSync(configPath, JSON.stringify(configFile(env, res.body.token, { discord_gateway: true, discord_token: BOT_TOKEN, discord_api_base: discord.url, log_level: "info" })));
    const { ANTHROPIC_API_KEY: _a, CLAUDE_CODE_OAUTH_TOKEN: _b, ANTHROPIC_BASE_URL: _c, DISCORD_BOT_TOKEN: _d, ...parentEnv } = process.env;
    const child = spawn(join(ROOT, "node_modules/.bin/node"), [join(ROOT, "runner/bin/loop.js"), "runner", "--config", configPath], { cwd: ROOT, env: parentEnv, stdio: ["ignore", "pipe", "pipe"] });
    children.push(child);
    let out = "";
    child.stderr!.on("data", (d) => (out += d));
    await waitFor("the process to relay", () => out.includes("relay: connected to Discord"), 60_000);
    const standby = await relayRunner("relay-standby");
    await waitFor("the standby to wait", () => standby.lines.some((l) => l.msg === "runner started"), 30_000);
    expect(standby.handle.relay?.active).toBe(false);
    const identifies = gw.identifies;

    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    await waitFor("the standby to take over", () => standby.handle.relay?.active, 30_000);
    expect(gw.identifies).toBe(identifies + 1);
    const health = (await (await fetch(`${env.worker.url}/api/health`)).json()) as { relay: { runner_name: string } };
    expect(health.relay.runner_name).toBe("relay-standby");

    const channel = snowflake();
    const after = send({ channel_id: channel, content: `<@${BOT_USER_ID}> are you there?`, mentionsBot: true });
    await replyTo(after);
    const [run] = await waitFor("the run", async () => ((await runsIn(channel)).length ? runsIn(channel) : null));
    expect(await waitForRun(env, run.id, 120_000)).toMatchObject({ status: "succeeded", result_text: "Still here." });
  }, 240_000);
});
