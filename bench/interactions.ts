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
 * Beside them, the no-op route (GET /discord/nope: routing and a 404) before and after, as
 * the floor this machine sets (the load generator shares its 2 cores with workerd); each
 * kind's p99 is also given as a ratio to the no-op's.
 * BENCH_INTERACTIONS requests of each kind (default 1,000), after a warm-up. The live
 * messages the asks start are edited through a fake Discord API, never the real one.
 * Prints figures only; nothing here asserts.
 */
import { ChannelKind, InteractionKind, OptionType } from "../protocol/discord-constants.ts";
import { startFakeDiscord } from "../test/fakes/discord.ts";
import { startWorker } from "../test/support/worker.ts";
import { median, percentile, report, round } from "./lib.ts";
import { discordSigner } from "./signer.ts";

const N = Number(process.env.BENCH_INTERACTIONS ?? 1000);
const WARMUP = 50;
const APP = "950000000000000001";
const GUILD = "950000000000000002";
const CHANNEL = "950000000000000003";
/** Asks go to this many channels in turn: each channel runs one at a time, as in Discord. */
const ASK_CHANNELS = 100;
const USER = "950000000000000004";

const signer = await discordSigner();

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

const send = signer.send;

/**
 * The floor on this machine: a Worker route that does nothing (routing and the app's 404,
 * the same one bench/cpu uses), timed the same way. The load generator shares the 2 cores
 * with workerd, so a kind's p99 ÷ this p99 says how much is the route's own.
 */
async function sendNoop(url: string): Promise<{ ms: number; type: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/discord/nope`);
  await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 404) throw new Error(`the no-op route answered ${res.status}`);
  return { ms, type: 0 };
}

const fake = await startFakeDiscord({ botToken: "bench-bot-token" });
const worker = await startWorker({ vars: { DISCORD_PUBLIC_KEY: signer.publicKey, DISCORD_API_BASE: fake.url, DISCORD_BOT_TOKEN: "bench-bot-token", LOG_LEVEL: "error" } });
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
  const measure = async (name: string, make: () => object, expected: number, gapMs = 0, one = (m: () => object) => send(worker.url, JSON.stringify(m()))) => {
    for (let i = 0; i < WARMUP; i++) await one(make);
    const times: number[] = [];
    for (let i = 0; i < N; i++) {
      const { ms, type } = await one(make);
      if (type !== expected) throw new Error(`${name} answered type ${type}, expected ${expected}`);
      times.push(ms);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    results[name] = times;
    console.log(`${name.padEnd(22)} ${N} requests  p50 ${round(median(times))} ms  p99 ${round(percentile(times, 99))} ms  max ${round(Math.max(...times))} ms`);
  };
  await measure("no-op route", () => ({}), 0, 0, () => sendNoop(worker.url));
  for (const [kind, make] of Object.entries(KINDS).filter(([k]) => !ONLY || ONLY.includes(k))) {
    await measure(kind, make, EXPECT[kind]!);
  }
  // Back to back, each ask's queued run and live-message edits (after the answer, in the
  // same local isolate) compete with the next ask. Spaced out, as people type, they do not.
  if (!ONLY || ONLY.includes("ask")) await measure(`ask, one per ${ASK_GAP_MS} ms`, KINDS.ask!, EXPECT.ask!, ASK_GAP_MS);
  // The no-op series again at the end: the floor before and after, in case the machine's load moved.
  const before = results["no-op route"]!;
  await measure("no-op route", () => ({}), 0, 0, () => sendNoop(worker.url));
  const floor = [...before, ...results["no-op route"]!];
  results["no-op route"] = floor;
  const floorP99 = percentile(floor, 99);
  const all = Object.entries(results).filter(([k]) => k !== "no-op route").flatMap(([, xs]) => xs);
  console.log(`${"all".padEnd(22)} ${all.length} requests  p50 ${round(median(all))} ms  p99 ${round(percentile(all, 99))} ms`);
  for (const [kind, xs] of Object.entries(results)) if (kind !== "no-op route") console.log(`${kind.padEnd(22)} p99 ÷ no-op p99 = ${round(percentile(xs, 99) / floorP99, 2)}×`);
  report(
    Object.entries(results).flatMap(([kind, xs]) =>
      kind === "no-op route"
        ? [
            { bench: "interactions", figure: "no-op route p50 (the machine's floor)", value: round(median(xs)), unit: "ms" },
            { bench: "interactions", figure: "no-op route p99 (the machine's floor)", value: round(percentile(xs, 99)), unit: "ms" },
          ]
        : [
            { bench: "interactions", figure: `${kind} p50`, value: round(median(xs)), unit: "ms" },
            { bench: "interactions", figure: `${kind} p99`, value: round(percentile(xs, 99)), unit: "ms", goal: "≤ 20" },
            { bench: "interactions", figure: `${kind} p99 ÷ no-op p99`, value: round(percentile(xs, 99) / floorP99, 2), unit: "×" },
          ],
    ),
  );
} finally {
  await worker.stop();
  await fake.close();
}
