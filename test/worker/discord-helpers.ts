/**
 * Helpers for the Discord tests: interactions signed with a real Ed25519 key (the private
 * half of the Worker's DISCORD_PUBLIC_KEY binding), builders for /loop payloads, access to
 * the fake Discord API's recorded calls, and a runner driving runs through /runner/v1.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { ChannelKind as Channel, Component, InteractionKind as InteractionType, OptionType as Opt } from "../../protocol/discord-constants.ts";
import { Job } from "../../protocol/runner.ts";
import type { DeletedThread, RecordedCall } from "../fakes/discord.ts";

export const APP_ID = "900000000000000001";
export const GUILD_ID = "900000000000000002";
const DISCORD_EPOCH = 1_420_070_400_000n;
let counter = 0;

/** A Discord snowflake made at `ms` (default now), unique within this test file. */
export function snowflake(ms = Date.now()): string {
  counter += 1;
  return String(((BigInt(ms) - DISCORD_EPOCH) << 22n) | BigInt((counter * 7919 + Math.floor(Math.random() * 4096)) & 0x3fffff));
}

// ---- signing ---------------------------------------------------------------------------

let key: Promise<CryptoKey> | undefined;
function signingKey(): Promise<CryptoKey> {
  // Node writes alg "Ed25519" into the JWK; workerd only accepts "EdDSA" there, so drop it.
  const { alg: _alg, ...jwk } = JSON.parse(env.TEST_DISCORD_PRIVATE_JWK);
  return (key ??= crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]) as Promise<CryptoKey>);
}

const hex = (buf: ArrayBuffer) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

export async function signWith(privateKey: CryptoKey, timestamp: string, body: string): Promise<string> {
  return hex(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, new TextEncoder().encode(timestamp + body)));
}

export const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** POSTs a raw body to /discord/interactions with the given headers. */
export function postRaw(body: string, headers: Record<string, string>): Promise<Response> {
  return SELF.fetch("http://loop.test/discord/interactions", { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
}

/** Sends an interaction exactly as Discord does: signed over timestamp + raw body. */
export async function send(interaction: object): Promise<{ status: number; body: any }> {
  const body = JSON.stringify(interaction);
  const timestamp = nowSeconds();
  const res = await postRaw(body, { "x-signature-ed25519": await signWith(await signingKey(), timestamp, body), "x-signature-timestamp": timestamp });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

// ---- payloads --------------------------------------------------------------------------

export interface Place {
  channelId: string;
  userId: string;
  /** Discord permissions bitfield of the member (default: none special). */
  permissions?: string;
  thread?: { parentId: string };
  /** Interaction id, which dates the interaction (its token lasts 15 minutes from then). */
  interactionId?: string;
}

export function newPlace(overrides: Partial<Place> = {}): Place {
  return { channelId: snowflake(), userId: snowflake(), ...overrides };
}

function base(type: number, place: Place, data: object, extra: object = {}) {
  const id = place.interactionId ?? snowflake();
  return {
    id,
    application_id: APP_ID,
    type,
    token: `tok-${id}-${crypto.randomUUID()}`,
    version: 1,
    guild_id: GUILD_ID,
    channel_id: place.channelId,
    channel: place.thread
      ? { id: place.channelId, type: Channel.PublicThread, name: "a thread", parent_id: place.thread.parentId }
      : { id: place.channelId, type: Channel.GuildText, name: "project" },
    member: { user: { id: place.userId, username: `user${place.userId.slice(-4)}` }, permissions: place.permissions ?? "2048", roles: [] },
    data,
    ...extra,
  };
}

type Value = string | number | boolean;

/** A /loop subcommand ("ask", "template add") with its options. */
export function command(path: string, options: Record<string, Value> = {}, place: Place = newPlace(), focused?: string) {
  const opts = Object.entries(options).map(([name, value]) => ({
    name,
    type: typeof value === "number" ? Opt.Integer : typeof value === "boolean" ? Opt.Boolean : name === "user" ? Opt.User : Opt.String,
    value,
    ...(name === focused ? { focused: true } : {}),
  }));
  const [first, second] = path.split(" ");
  const leaf = { type: Opt.Subcommand, name: second ?? first!, options: opts };
  const top = second ? { type: Opt.SubcommandGroup, name: first!, options: [leaf] } : leaf;
  return base(focused ? InteractionType.ApplicationCommandAutocomplete : InteractionType.ApplicationCommand, place, { id: APP_ID, name: "loop", type: 1, options: [top] });
}

export const autocompleteOf = (path: string, options: Record<string, Value>, focused: string, place: Place) => command(path, options, place, focused);

export function button(customId: string, place: Place) {
  return base(InteractionType.MessageComponent, place, { custom_id: customId, component_type: Component.Button }, { message: { id: snowflake(), channel_id: place.channelId } });
}

/** Runs a subcommand and returns the response's message content (and its flags). */
export async function run(path: string, options: Record<string, Value>, place: Place) {
  const res = await send(command(path, options, place));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { type: res.body.type as number, content: (res.body.data?.content ?? "") as string, ephemeral: res.body.data?.flags === 64, body: res.body };
}

/**
 * /loop ask, then the run it queues. The answer is deferred and the run is created after
 * the response (waitUntil), so this polls D1 for it.
 */
export async function askAndWait(prompt: string, place: Place): Promise<{ interaction: ReturnType<typeof command>; runId: number }> {
  const interaction = command("ask", { prompt }, place);
  expect((await send(interaction)).body).toEqual({ type: 5 });
  const deadline = Date.now() + 5_000;
  for (;;) {
    const row = await env.DB.prepare("SELECT r.id FROM runs r JOIN channels c ON c.id = r.channel_id WHERE c.discord_channel_id = ? AND r.prompt = ? ORDER BY r.id DESC")
      .bind(place.channelId, prompt)
      .first<{ id: number }>();
    if (row) return { interaction, runId: row.id };
    if (Date.now() > deadline) throw new Error(`no run for "${prompt}" appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- the fake Discord API --------------------------------------------------------------

export const fakeOrigin = () => env.DISCORD_API_BASE!.replace(/\/api\/v10$/, "");

export async function discordCalls(match: string): Promise<RecordedCall[]> {
  const res = await fetch(`${fakeOrigin()}/__calls?match=${encodeURIComponent(match)}`);
  return ((await res.json()) as { calls: RecordedCall[] }).calls;
}

export async function fakeRule(kind: "ratelimit" | "exhaust" | "expire" | "fail", rule: { match: string; count?: number; retry_after?: number; reset_after?: number; status?: number }) {
  await fetch(`${fakeOrigin()}/__${kind}`, { method: "POST", body: JSON.stringify(rule) });
}

/** The threads the fake Discord saw deleted, in order. */
export async function deletedThreads(): Promise<DeletedThread[]> {
  const res = await fetch(`${fakeOrigin()}/__deleted_threads`);
  return ((await res.json()) as { threads: DeletedThread[] }).threads;
}

/** Polls the fake until `done(calls)` holds; fails with the calls seen after `timeoutMs`. */
export async function waitForCalls(match: string, done: (calls: RecordedCall[]) => boolean, timeoutMs = 15_000): Promise<RecordedCall[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const calls = await discordCalls(match);
    if (done(calls)) return calls;
    if (Date.now() > deadline) throw new Error(`timed out waiting for Discord calls matching ${match}; saw:\n${JSON.stringify(calls.map((c) => [c.method, c.path, c.status, c.body?.content?.slice(0, 80)]), null, 1)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const webhookPath = (token: string) => `/webhooks/${APP_ID}/${token}`;

// ---- a runner --------------------------------------------------------------------------

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await SELF.fetch(`http://loop.test${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}
export const admin = (method: string, path: string, body?: unknown) => api(method, path, env.ADMIN_TOKEN!, body);

/**
 * A runner that only serves `channelId` (pinned to a label of its own). Runs queued before
 * the label was set carry no label and could go to any runner: make the runner first.
 */
export async function runnerFor(channelId: string) {
  const label = `d${++counter}-${crypto.randomUUID().slice(0, 8)}`;
  expect((await admin("PATCH", `/api/channels/${channelId}`, { runner_label: label })).status).toBe(200);
  const r = await admin("POST", "/api/runners", { name: label, labels: [label] });
  expect(r.status).toBe(201);
  const token = r.body.token as string;
  let next = 0;
  const runner = {
    async claim(): Promise<Job> {
      const res = await api("POST", "/runner/v1/claim", token, { wait_ms: 5_000 });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      const job = Job.parse(res.body);
      expect(job.channel_id, "the runner got another channel's job").toBe(channelId);
      next = job.first_seq;
      return job;
    },
    async events(job: Job, data: object[]) {
      const events = data.map((d) => ({ seq: next++, at: Date.now(), data: d }));
      const res = await api("POST", `/runner/v1/runs/${job.run_id}/events`, token, { lease_id: job.lease_id, events });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      return res.body;
    },
    async heartbeat(job: Job) {
      return (await api("POST", `/runner/v1/runs/${job.run_id}/heartbeat`, token, { lease_id: job.lease_id })).body;
    },
    async complete(job: Job, extra: object = {}) {
      const res = await api("POST", `/runner/v1/runs/${job.run_id}/complete`, token, {
        lease_id: job.lease_id,
        status: "succeeded",
        result_text: "done",
        session_id: "sess-1",
        usage: { input_tokens: 1200, output_tokens: 345 },
        cost_usd: 0.0123,
        exit_code: 0,
        model: "claude-test-1",
        ...extra,
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    },
  };
  return runner;
}
