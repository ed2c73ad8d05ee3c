/**
 * bench/interactions: how long POST /discord/interactions takes to answer a signed
 * interaction, against `wrangler dev` (local workerd, local D1 and Durable Objects). Discord
 * gives an endpoint 3 seconds; the goal is p99 ≤ 20 ms. Each request is signed with a real
 * Ed25519 key, as Discord signs it, and sent one at a time:
 *   ping:         verify + PONG (the floor: signature check and routing only)
 *   status:       verify + the channel's row, runs and tasks from D1 + an ephemeral reply
 *   autocomplete: verify + the channel's tasks filtered for task_id
 *   ask:          verify + the channel's row + defer; the run is queued after the answer
 *                 (waitUntil), its live message edited through the fake, across 100 channels;
 *                 measured back to back, then again with BENCH_ASK_GAP_MS (25) between asks
 * BENCH_INTERACTIONS requests of each kind (default 1,000), after a warm-up. The live
 * messages the asks start are edited through a fake Discord API, never the real one.
 * Prints figures only; nothing here asserts.
 */
import { webcrypto } from "node:crypto";
import { ChannelKind, InteractionKind, OptionType } from "../protocol/discord-constants.ts";
import { startFakeDiscord } from "../test/fakes/discord.ts";
import { startWorker } from "../test/support/worker.ts";
import { median, percentile, report, round } from "./lib.ts";

const N = Number(process.env.BENCH_INTERACTIONS ?? 1000);
const WARMUP = 50;
const APP = "950000000000000001";
const GUILD = "950000000000000002";
const CHANNEL = "950000000000000003";
/** Asks go to this many channels in turn: each channel runs one at a time, as in Discord. */
const ASK_CHANNELS = 100;
const USER = "950000000000000004";

const pair = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
const publicKey = Buffer.from(await webcrypto.subtle.exportKey("raw", pair.publicKey)).toString("hex");

let ids = 0n;
const snowflake = () => String(((BigInt(Date.now()) - 1_420_070_400_000n) << 22n) | (ids++ & 0x3fffffn));

function interaction(type: number, data?: object, channel = CHANNEL): object {
  const id = snowflake();
  return {
    id,
    application_id: APP,
    type,
    token: `bench-${id}`,
    version: 1,
    guild_id: GUILD,
    channel_id: channel,
    channel: { id: channel, type: ChannelKind.GuildText, name: "bench" },
    member: { user: { id: USER, username: "bench" }, permissions: "2048", roles: [] },
    ...(data ? { data: { id: APP, name: "loop", type: 1, ...data } } : {}),
  };
}

const sub = (name: string, options: object[] = []) => ({ options: [{ type: OptionType.Subcommand, name, options }] });
const KINDS: Record<string, () => object> = {
  ping: () => ({ id: snowflake(), application_id: APP, type: InteractionKind.Ping, token: "ping", version: 1 }),
  status: () => interaction(InteractionKind.ApplicationCommand, sub("status")),
  autocomplete: () => interaction(InteractionKind.ApplicationCommandAutocomplete, sub("cancel", [{ type: OptionType.Integer, name: "task_id", value: "1", focused: true }])),
  ask: () => interaction(InteractionKind.ApplicationCommand, sub("ask", [{ type: OptionType.String, name: "prompt", value: "benchmark question" }]), String(960000000000000000n + (ids % BigInt(ASK_CHANNELS)))),
};
const EXPECT: Record<string, number> = { ping: 1, status: 4, autocomplete: 8, ask: 5 };
const ONLY = process.env.BENCH_KINDS?.split(",");
const ASK_GAP_MS = Number(process.env.BENCH_ASK_GAP_MS ?? 25);

async function send(url: string, body: string): Promise<{ ms: number; type: number }> {
  const timestamp = String(Math.floor(Date.now() / 1000));
  const sig = Buffer.from(await webcrypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, new TextEncoder().encode(timestamp + body))).toString("hex");
  // Timed from sending the signed request to having the whole answer, as Discord waits.
  const t0 = performance.now();
  const res = await fetch(`${url}/discord/interactions`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": timestamp },
    body,
  });
  const json = (await res.json()) as { type: number };
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`interaction answered ${res.status}: ${JSON.stringify(json)}`);
  return { ms, type: json.type };
}

const fake = await startFakeDiscord({ botToken: "bench-bot-token" });
const worker = await startWorker({ vars: { DISCORD_PUBLIC_KEY: publicKey, DISCORD_API_BASE: fake.url, DISCORD_BOT_TOKEN: "bench-bot-token", LOG_LEVEL: "error" } });
try {
  // A channel with a few tasks, so status and autocomplete read real rows.
  for (let i = 0; i < 5; i++) {
    const opts = [
      { type: OptionType.String, name: "schedule", value: `${i + 1}h` },
      { type: OptionType.String, name: "prompt", value: `bench task ${i}` },
      { type: OptionType.String, name: "type", value: "interval" },
    ];
    await send(worker.url, JSON.stringify(interaction(InteractionKind.ApplicationCommand, sub("schedule", opts))));
  }

  const results: Record<string, number[]> = {};
  const measure = async (name: string, make: () => object, expected: number, gapMs = 0) => {
    for (let i = 0; i < WARMUP; i++) await send(worker.url, JSON.stringify(make()));
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const { ms, type } = await send(worker.url, JSON.stringify(make()));
      if (type !== expected) throw new Error(`${name} answered type ${type}, expected ${expected}`);
      times.push(ms);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    results[name] = times;
    console.log(`${name.padEnd(22)} ${N} requests  p50 ${round(median(times))} ms  p99 ${round(percentile(times, 99))} ms  max ${round(Math.max(...times))} ms`);
  };
  for (const [kind, make] of Object.entries(KINDS).filter(([k]) => !ONLY || ONLY.includes(k))) {
    await measure(kind, make, EXPECT[kind]!);
  }
  // Back to back, each ask's queued run and live-message edits (after the answer, in the
  // same local isolate) compete with the next ask. Spaced out, as people type, they do not.
  if (!ONLY || ONLY.includes("ask")) await measure(`ask, one per ${ASK_GAP_MS} ms`, KINDS.ask!, EXPECT.ask!, ASK_GAP_MS);
  const all = Object.values(results).flat();
  console.log(`${"all".padEnd(22)} ${all.length} requests  p50 ${round(median(all))} ms  p99 ${round(percentile(all, 99))} ms`);
  report(
    Object.entries(results).flatMap(([kind, xs]) => [
      { bench: "interactions", figure: `${kind} p50`, value: round(median(xs)), unit: "ms" },
      { bench: "interactions", figure: `${kind} p99`, value: round(percentile(xs, 99)), unit: "ms", goal: "≤ 20" },
    ]),
  );
} finally {
  await worker.stop();
  await fake.close();
}
