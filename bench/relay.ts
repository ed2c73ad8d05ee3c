/**
 * bench/relay: how fast a Discord message becomes a run, and an answer in Discord. Against
 * `wrangler dev` (local workerd), the fake Discord Gateway and REST API, and the real relay
 * (runner/relay/relay.ts) in this process. Baseline, measured side by side: the round trip of
 * GET /api/health, the cost of one HTTP request to the local Worker.
 *   created: MESSAGE_CREATE sent by the fake Gateway → the relay has the Worker's answer that
 *            the run exists in D1 (the batch is answered after the run's insert and enqueue)
 *   reply:   MESSAGE_CREATE sent → the fake REST API receives the first reply to that message
 *            (the run's live message, "waiting for a runner": no runner claims here)
 * 300 messages, one at a time, over 10 channels. Goals: created p99 ≤ 100 ms, reply p99 ≤ 300 ms.
 */
import { BOT_USER_ID, startFakeDiscord } from "../test/fakes/discord.ts";
import { startFakeGateway } from "../test/fakes/discord-gateway.ts";
import { startWorker } from "../test/support/worker.ts";
import { memoryLogger } from "../runner/log.ts";
import { startRelay } from "../runner/relay/relay.ts";
import { WorkerClient } from "../runner/worker-client.ts";
import { client, median, percentile, report, round } from "./lib.ts";

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 300);
const CHANNELS = 10;
const TOKEN = "bench-bot-token";
const GUILD = "910000000000000001";

const discord = await startFakeDiscord({ botToken: TOKEN });
const gw = await startFakeGateway({ botToken: TOKEN, botUserId: BOT_USER_ID });
discord.gatewayUrl = gw.url;
const worker = await startWorker({ vars: { DISCORD_API_BASE: discord.url, DISCORD_BOT_TOKEN: TOKEN } });
const log = memoryLogger();
const replied = new Map<string, number>();
const created = new Map<string, number>();
discord.onMessage = (m) => {
  const ref = m.message_reference?.message_id;
  if (ref && !replied.has(ref)) replied.set(ref, performance.now());
};
// The relay's log says when the Worker answered for each message.
const origInfo = log.info;
log.info = (msg, fields = {}) => {
  if (msg === "relay: message forwarded" && fields.outcome === "run") created.set(String(fields.message_id), performance.now());
  origInfo(msg, fields);
};

let relay: ReturnType<typeof startRelay> | null = null;
try {
  const admin = client(worker.url, worker.adminToken);
  const { body: runner } = await admin("POST", "/api/runners", { name: "bench-relay", labels: [] });
  const workerClient = new WorkerClient({ url: worker.url, token: runner.token, runnerVersion: "bench" });
  relay = startRelay({ client: workerClient, log, token: TOKEN, apiBase: discord.url, dmDir: null, backoff: { initialMs: 100, maxMs: 1_000 } });
  const deadline = Date.now() + 30_000;
  while (!relay.active) {
    if (Date.now() > deadline) throw new Error("the relay did not connect");
    await new Promise((r) => setTimeout(r, 20));
  }

  const health: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    await fetch(`${worker.url}/api/health`);
    health.push(performance.now() - t0);
  }

  const channels = Array.from({ length: CHANNELS }, (_, i) => String(920_000_000_000_000_000n + BigInt(i)));
  const sentAt = new Map<string, number>();
  console.log(`relay: ${MESSAGES} @mentions, one at a time, over ${CHANNELS} channels`);
  for (let i = 0; i < MESSAGES; i++) {
    const id = String(((BigInt(Date.now()) - 1_420_070_400_000n) << 22n) | BigInt(i));
    sentAt.set(id, performance.now());
    gw.dispatch("MESSAGE_CREATE", {
      id,
      type: 0,
      channel_id: channels[i % CHANNELS],
      guild_id: GUILD,
      member: { nick: null, roles: [] },
      author: { id: "930000000000000001", username: "bench", global_name: "Bench", discriminator: "0", avatar: null },
      content: `<@${BOT_USER_ID}> message ${i}`,
      mentions: [{ id: BOT_USER_ID, username: "loop" }],
      mention_roles: [],
      attachments: [],
      embeds: [],
      timestamp: new Date().toISOString(),
    });
    const until = Date.now() + 10_000;
    while (!(created.has(id) && replied.has(id)) && Date.now() < until) await new Promise((r) => setTimeout(r, 1));
  }
  const lat = (m: Map<string, number>) => [...sentAt].filter(([id]) => m.has(id)).map(([id, t]) => m.get(id)! - t);
  const toRun = lat(created);
  const toReply = lat(replied);
  const base = median(health);
  console.log(`baseline  GET /api/health          p50 ${round(base)} ms`);
  console.log(`created   message → run in D1       p50 ${round(median(toRun))} ms  p99 ${round(percentile(toRun, 99))} ms  (${toRun.length}/${MESSAGES})`);
  console.log(`reply     message → reply posted    p50 ${round(median(toReply))} ms  p99 ${round(percentile(toReply, 99))} ms  (${toReply.length}/${MESSAGES})`);
  report([
    { bench: "relay", figure: "baseline: GET /api/health p50", value: round(base), unit: "ms" },
    { bench: "relay", figure: "message → run created p50", value: round(median(toRun)), unit: "ms" },
    { bench: "relay", figure: "message → run created p99", value: round(percentile(toRun, 99)), unit: "ms", goal: "≤ 100" },
    { bench: "relay", figure: "message → reply posted p50", value: round(median(toReply)), unit: "ms" },
    { bench: "relay", figure: "message → reply posted p99", value: round(percentile(toReply, 99)), unit: "ms", goal: "≤ 300" },
    { bench: "relay", figure: "messages without a run", value: MESSAGES - toRun.length, unit: "", goal: "≤ 0" },
  ]);
} finally {
  await relay?.stop();
  await worker.stop();
  await gw.close();
  await discord.close();
}
