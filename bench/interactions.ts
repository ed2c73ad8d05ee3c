/**
 * bench/interactions: how long POST /discord/interactions takes to answer a signed
 * interaction, against `wrangler dev` (local workerd, local D1 and Durable Objects). Discord
 * gives an endpoint 3 seconds; the goal is p99 ≤ 20 ms. Each request is signed with a real
 * Ed25519 key, as Discord signs it, and sent one at a time:
 *   ping:         verify + PONG (the floor: signature check and routing only)
 *   status:       verify + the channel's row, runs, tasks and relay holder from D1 (one batch) + an ephemeral reply
 *   autocomplete: verify + the channel's tasks filtered for task_id (one statement)
 *   ask:          verify + defer, reading nothing stored; after the answer (waitUntil) one call
 *                 to the channel's ChannelSession, which queues the run and edits the live
 *                 message through the fake, across 100 channels; measured back to back, then
 *                 again with BENCH_ASK_GAP_MS (25) between asks
 * Beside them, the no-op route (GET /discord/nope: routing and a 404), the floor this machine
 * sets (the load generator shares its 2 cores with workerd, and with whatever else runs), and
 * each kind's p99 as a ratio to the no-op's measured in the same minutes: ping, status and
 * autocomplete interleaved with it request by request; asks in blocks of 50 after 50 no-ops,
 * the asks' background work let finish after each block (see inBlocks).
 *
 * Every series runs in up to three setups (BENCH_PATHS, default direct,split; add proxy for
 * wrangler dev's own front, which Cloudflare does not have):
 *   proxy:  through wrangler dev's proxy (what `wrangler dev` serves: a second workerd whose
 *           worker queues each request in a Durable Object and fetches the user worker over
 *           local HTTP);
 *   direct: the same Worker, straight to the user worker's own workerd socket
 *           (bench/dev-worker.ts): no such proxy exists on Cloudflare. Its Durable Objects
 *           still run in the Worker's workerd, so an ask's work in its ChannelSession (after
 *           the answer) competes with the next request;
 *   split:  the Worker alone in its workerd, its Durable Objects in a second workerd process
 *           (startSplitDevWorker), as Cloudflare runs a DO call: another invocation,
 *           elsewhere. Straight to the Worker's socket. What the Worker's path alone costs.
 * Each setup's background work is let finish (the fake's call count settles) before the next
 * series. A plain Node HTTP server in this process, timed the same way, gives the client's own
 * round trip; the differences between the floors are what each layer costs.
 *
 * BENCH_INTERACTIONS requests of each kind (default 1,000), after a warm-up. The live
 * messages the asks start are edited through a fake Discord API, never the real one, served
 * from a process of its own (bench/fake-discord-process.ts) so that its work is not timed.
 * Prints figures only; nothing here asserts.
 */
import { ChannelKind, InteractionKind, OptionType } from "../protocol/discord-constants.ts";
import { createServer } from "node:http";
import { startDevWorker, startSplitDevWorker } from "./dev-worker.ts";
import { startFakeDiscordProcess } from "./fake-discord-process.ts";
import { median, percentile, report, round, type Figure } from "./lib.ts";
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
  ask: () => {
    asks++;
    return interaction(InteractionKind.ApplicationCommand, sub("ask", [{ type: OptionType.String, name: "prompt", value: "benchmark question" }]), String(960000000000000000n + (ids % BigInt(ASK_CHANNELS))));
  },
};
/** Asks sent (warm-ups included), to give the Discord calls they caused per ask. */
let asks = 0;
const EXPECT: Record<string, number> = { ping: 1, status: 4, autocomplete: 8, ask: 5 };
const ONLY = process.env.BENCH_KINDS?.split(",");
const ASK_GAP_MS = Number(process.env.BENCH_ASK_GAP_MS ?? 25);
/** Asks per block between two waits for their background work to end (see inBlocks). */
const ASK_BLOCK = 50;

/**
 * The floor on this machine: a Worker route that does nothing (routing and the app's 404,
 * the same one bench/cpu uses), timed the same way. The load generator shares the 2 cores
 * with workerd, so a kind's p99 ÷ this p99 says how much is the route's own.
 */
async function sendNoop(url: string, headers: Record<string, string>): Promise<{ ms: number; type: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/discord/nope`, { headers });
  await res.text();
  const ms = performance.now() - t0;
  if (res.status !== 404) throw new Error(`the no-op route answered ${res.status}`);
  return { ms, type: 0 };
}

/** The client's own round trip: a Node HTTP server in this process that answers 404 at once. */
const plain = createServer((_req, res) => res.writeHead(404).end());
await new Promise<void>((r) => plain.listen(0, "127.0.0.1", r));
const plainUrl = `http://127.0.0.1:${(plain.address() as { port: number }).port}`;

const PATHS = [
  { key: "proxy", label: "", title: "through wrangler dev's proxy" },
  { key: "direct", label: " (direct to workerd)", title: "straight to the user worker's workerd" },
  { key: "split", label: " (split: DOs in their own workerd)", title: "straight to the Worker's workerd, its Durable Objects in a second workerd process (as on Cloudflare: another invocation, elsewhere)" },
].filter((p) => (process.env.BENCH_PATHS ?? "direct,split").split(",").includes(p.key));

// In a process of its own: the asks' live-message edits must not run on the client's event loop.
const fake = await startFakeDiscordProcess("bench-bot-token");
const vars = { DISCORD_PUBLIC_KEY: signer.publicKey, DISCORD_API_BASE: fake.url, DISCORD_BOT_TOKEN: "bench-bot-token", LOG_LEVEL: "error", ADMIN_TOKEN: `bench-admin-${crypto.randomUUID()}` };
const needsOne = PATHS.some((p) => p.key !== "split");
const worker = needsOne ? await startDevWorker(vars) : null;
const split = PATHS.some((p) => p.key === "split") ? await startSplitDevWorker(vars).catch(async (err) => (await worker?.stop(), Promise.reject(err))) : null;
try {
  // A channel with a few tasks, so status and autocomplete read real rows.
  for (const w of [worker, split]) {
    if (!w) continue;
    for (let i = 0; i < 5; i++) {
      const opts = [
        { type: OptionType.String, name: "schedule", value: `${i + 1}h` },
        { type: OptionType.String, name: "prompt", value: `bench task ${i}` },
        { type: OptionType.String, name: "type", value: "interval" },
      ];
      await signer.send(w.directUrl, JSON.stringify(interaction(InteractionKind.ApplicationCommand, sub("schedule", opts))), w.directHeaders);
    }
  }

  const figures: Figure[] = [];
  type Send = () => Promise<{ ms: number; type: number }>;
  interface Lane {
    name: string;
    send: Send;
    expected: number;
  }
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const sendOne = async (lane: Lane) => {
    const { ms, type } = await lane.send();
    if (type !== lane.expected) throw new Error(`${lane.name} answered type ${type}, expected ${lane.expected}`);
    return ms;
  };
  const line = (name: string, xs: number[]) =>
    console.log(`${name.padEnd(46)} ${xs.length} requests  p50 ${round(median(xs))} ms  p99 ${round(percentile(xs, 99))} ms  max ${round(Math.max(...xs))} ms`);

  /**
   * Waits until the asks' background work (each live message's first edit, 750 ms after its
   * ask) has reached the fake: the fake's call count stops growing.
   */
  const settle = async () => {
    let last = await fake.callCount();
    for (let i = 0; i < 120; i++) {
      await sleep(500);
      const now = await fake.callCount();
      if (now === last && i >= 1) return;
      last = now;
    }
  };

  /**
   * The answers that leave no work behind, interleaved request by request with the no-op
   * route: round i sends one of each in turn, so every kind and its floor meet the same
   * machine (the other engineers' load moves from minute to minute) and their ratio holds.
   */
  const interleaved = async (lanes: Lane[]) => {
    for (let i = 0; i < WARMUP; i++) for (const lane of lanes) await sendOne(lane);
    const times = new Map(lanes.map((l) => [l.name, [] as number[]]));
    for (let i = 0; i < N; i++) for (const lane of lanes) times.get(lane.name)!.push(await sendOne(lane));
    return times;
  };

  /**
   * Asks leave work behind (their ChannelSession's), which is what back to back measures, so
   * they cannot be interleaved one by one with their floor: blocks of ASK_BLOCK no-ops, then
   * ASK_BLOCK asks, then the asks' work is let finish; the no-op blocks are the floor of the
   * same minutes, with nothing left running from the asks.
   */
  const inBlocks = async (noop: Lane, ask: Lane, gapMs: number) => {
    for (let i = 0; i < WARMUP; i++) await sendOne(ask);
    await settle();
    const floor: number[] = [];
    const asked: number[] = [];
    for (let done = 0; done < N; done += ASK_BLOCK) {
      const n = Math.min(ASK_BLOCK, N - done);
      for (let i = 0; i < n; i++) floor.push(await sendOne(noop));
      for (let i = 0; i < n; i++) {
        asked.push(await sendOne(ask));
        if (gapMs) await sleep(gapMs);
      }
      await settle();
    }
    return { floor, asked };
  };

  const report1 = (name: string, xs: number[], floor: number[], floorName: string) => {
    const ratio = percentile(xs, 99) / percentile(floor, 99);
    console.log(`${name.padEnd(46)} p99 ÷ ${floorName} p99 = ${round(ratio, 2)}×`);
    figures.push(
      { bench: "interactions", figure: `${name} p50`, value: round(median(xs)), unit: "ms" },
      { bench: "interactions", figure: `${name} p99`, value: round(percentile(xs, 99)), unit: "ms", goal: "≤ 20" },
      { bench: "interactions", figure: `${name} p99 ÷ ${floorName} p99`, value: round(ratio, 2), unit: "×" },
    );
  };
  const floorFigures = (name: string, xs: number[]) =>
    figures.push(
      { bench: "interactions", figure: `${name} p50 (the machine's floor)`, value: round(median(xs)), unit: "ms" },
      { bench: "interactions", figure: `${name} p99 (the machine's floor)`, value: round(percentile(xs, 99)), unit: "ms" },
    );

  const floors: Record<string, number[]> = {};
  for (const path of PATHS) {
    const w = (path.key === "split" ? split : worker)!;
    const url = path.key === "proxy" ? w.url : w.directUrl;
    const headers = path.key === "proxy" ? {} : w.directHeaders;
    console.log(`-- ${path.title}`);
    const noop: Lane = { name: `no-op route${path.label}`, send: () => sendNoop(url, headers), expected: 0 };
    const lane = (kind: string): Lane => ({ name: `${kind}${path.label}`, send: () => signer.send(url, JSON.stringify(KINDS[kind]!()), headers), expected: EXPECT[kind]! });

    const answers = ["ping", "status", "autocomplete"].filter((k) => !ONLY || ONLY.includes(k)).map(lane);
    const times = await interleaved([noop, ...answers]);
    const floor = times.get(noop.name)!;
    floors[path.key] = floor;
    line(noop.name, floor);
    floorFigures(noop.name, floor);
    for (const a of answers) line(a.name, times.get(a.name)!);
    for (const a of answers) report1(a.name, times.get(a.name)!, floor, "no-op");

    if (!ONLY || ONLY.includes("ask")) {
      const [asksBefore, callsBefore] = [asks, await fake.callCount()];
      // Back to back, each ask's queued run and live-message edit (after the answer; locally in
      // the same workerd unless split) compete with the next ask. Spaced out, as people type, less.
      for (const gap of [0, ASK_GAP_MS]) {
        const name = gap ? `ask, one per ${gap} ms${path.label}` : `ask${path.label}`;
        const { floor: blockFloor, asked } = await inBlocks(noop, lane("ask"), gap);
        line(`${noop.name}, between the ask blocks`, blockFloor);
        line(name, asked);
        report1(name, asked, blockFloor, "no-op (its blocks)");
        if (!gap) {
          // The asks' runs pile up (no runner drains them): if anything per ask grew with a
          // channel's queue, the last tenth of the series would be slower than the first.
          const tenth = Math.max(1, Math.floor(asked.length / 10));
          const [first, last] = [median(asked.slice(0, tenth)), median(asked.slice(-tenth))];
          console.log(`${name.padEnd(46)} p50 of the first tenth ${round(first)} ms, of the last ${round(last)} ms (runs queued per channel grew by ${round((N / ASK_CHANNELS) * 0.9)})`);
          figures.push({ bench: "interactions", figure: `${name} p50, last tenth ÷ first tenth (runs piling up)`, value: round(last / first, 2), unit: "×" });
        }
      }
      // Each ask's live message: the background work a later request competes with.
      const perAsk = ((await fake.callCount()) - callsBefore) / (asks - asksBefore);
      console.log(`Discord API calls per ask${path.label} (its live message, after the answer): ${round(perAsk, 2)}`);
      figures.push({ bench: "interactions", figure: `Discord API calls per ask, after its answer${path.label}`, value: round(perAsk, 2), unit: "calls" });
    }
  }

  // What each layer under the no-op costs: the client's round trip, workerd with Loop's 404,
  // and wrangler dev's proxy on top.
  const client = (await interleaved([{ name: "plain", send: () => sendNoop(plainUrl, {}), expected: 0 }])).get("plain")!;
  line("plain Node HTTP 404 (the client's floor)", client);
  figures.push({ bench: "interactions", figure: "plain Node HTTP round trip p50 (the client's floor)", value: round(median(client)), unit: "ms" });
  if (floors.direct) figures.push({ bench: "interactions", figure: "workerd + Loop's 404 route, p50 over the client's floor", value: round(median(floors.direct) - median(client)), unit: "ms" });
  if (floors.direct && floors.proxy) {
    figures.push(
      { bench: "interactions", figure: "wrangler dev's proxy, p50 added", value: round(median(floors.proxy) - median(floors.direct)), unit: "ms" },
      { bench: "interactions", figure: "wrangler dev's proxy, p99 added", value: round(percentile(floors.proxy, 99) - percentile(floors.direct, 99)), unit: "ms" },
    );
  }
  report(figures);
} finally {
  await worker?.stop();
  await split?.stop();
  await fake.close();
  plain.close();
}
