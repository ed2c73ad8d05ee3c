/**
 * The run pipeline in workerd: ChannelSession queue → Dispatcher leases → /runner/v1.
 * The Dispatcher is one object shared by every test in this file, so each test pins its
 * channels to a label of its own and registers runners with only that label.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LEASE_ACK_MS } from "../../durable-objects/leases.ts";
import { Job } from "../../protocol/runner.ts";
import { admin, api as call, ask, claim, complete, getRun as run, labelledSetup, newChannel } from "./runner-protocol.ts";

const ADMIN = `Bearer ${env.ADMIN_TOKEN}`;
/** A channel pinned to a fresh label, and runners holding that label. */
const setup = (runnerCount = 1) => labelledSetup("t", runnerCount);

const heartbeat = (token: string, job: Job) => call("POST", `/runner/v1/runs/${job.run_id}/heartbeat`, token, { lease_id: job.lease_id });
const postEvents = (token: string, job: Job, seqs: number[]) =>
  call("POST", `/runner/v1/runs/${job.run_id}/events`, token, { lease_id: job.lease_id, events: seqs.map((s) => ({ seq: s, at: Date.now(), data: { type: "text", text: `event ${s}` } })) });
const abandon = (token: string, job: Job, reason = "restart", leaseId = job.lease_id) => call("POST", `/runner/v1/runs/${job.run_id}/abandon`, token, { lease_id: leaseId, reason });

const dispatcher = () => env.DISPATCHER.getByName("default");
/** Makes every current lease look expired, then lets the Dispatcher's alarm handle it. */
async function expireLeases() {
  await runInDurableObject(dispatcher(), (_o, state) => {
    state.storage.sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE state = 'leased'", Date.now() - 1);
  });
  await runDurableObjectAlarm(dispatcher());
}

describe("runners", () => {
  it("registers a runner, shows its token once, and lists it with its leases", async () => {
    const { label, channel, runner } = await setup();
    const list = await admin("GET", "/api/runners");
    const mine = list.body.runners.find((r: any) => r.name === `${label}-r0`);
    expect(mine).toMatchObject({ labels: [label], leases: [] });
    expect(mine.token).toBeUndefined();
    expect(runner).toMatch(/^loop_runner_/);

    const r = await ask(channel);
    const job = (await claim(runner))!;
    const after = (await admin("GET", "/api/runners")).body.runners.find((x: any) => x.name === `${label}-r0`);
    expect(after.leases).toEqual([expect.objectContaining({ run_id: r.id, attempt: 1 })]);
    expect(after.last_seen_at).not.toBeNull();
    await complete(runner, job);
  });

  it("keeps runner and API tokens on their own sides", async () => {
    const { runner } = await setup();
    expect((await call("GET", "/api/tasks", runner)).status).toBe(401);
    expect((await call("POST", "/runner/v1/claim", env.ADMIN_TOKEN!, { wait_ms: 0 })).status).toBe(401);
    expect((await call("POST", "/runner/v1/claim", "loop_runner_nope", { wait_ms: 0 })).status).toBe(401);
  });

  it("refuses a removed runner's token on its very next request", async () => {
    const { label, runner } = await setup();
    const seen = await call("POST", "/runner/v1/claim", runner, { wait_ms: 0, labels: [label] });
    expect(seen.status).toBe(204);
    const id = (await admin("GET", "/api/runners")).body.runners.find((r: any) => r.name === `${label}-r0`).id;
    expect((await admin("DELETE", `/api/runners/${id}`)).status).toBe(204);
    const refused = await call("POST", "/runner/v1/claim", runner, { wait_ms: 0 });
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("unauthorized");
  });

  it("refuses a second runner with the same name", async () => {
    await admin("POST", "/api/runners", { name: "dup-runner" });
    const again = await admin("POST", "/api/runners", { name: "dup-runner" });
    expect(again.status).toBe(409);
    expect(again.body.error.field).toBe("name");
  });
});

describe("claims", () => {
  it("hands a queued run to a runner as a Job with everything it needs", async () => {
    const { channel, runner } = await setup();
    const created = await ask(channel, "what changed today?");
    expect(created.status).toBe("queued");
    const job = (await claim(runner))!;
    const ch = (await admin("GET", `/api/channels/${channel}`)).body;
    expect(job).toMatchObject({ run_id: created.id, attempt: 1, first_seq: 1, channel_id: channel, prompt: "what changed today?", session_id: null, workdir: ch.dir_path, mcp: { url: "http://loop.test/mcp" } });
    expect(job.mcp.token).toMatch(/^loop_run_/);
    expect((await run(created.id)).status).toBe("running");
    await complete(runner, job);
  });

  it("answers 204 when nothing is ready", async () => {
    const { runner } = await setup();
    expect(await claim(runner, 0)).toBeNull();
  });

  it("a claim parked before the run exists gets it as soon as it is created", async () => {
    const { channel, runner } = await setup();
    const parked = claim(runner, 10_000);
    await new Promise((r) => setTimeout(r, 100));
    const created = await ask(channel);
    const started = Date.now();
    const job = await parked;
    expect(job?.run_id).toBe(created.id);
    expect(Date.now() - started).toBeLessThan(5_000);
    await complete(runner, job!);
  });

  it("a claim whose runner went away is not handed the next job", async () => {
    const { channel, runner } = await setup();
    const gone = new AbortController();
    const abandoned = SELF.fetch("http://loop.test/runner/v1/claim", {
      method: "POST",
      headers: { authorization: `Bearer ${runner}`, "content-type": "application/json" },
      body: JSON.stringify({ wait_ms: 10_000 }),
      signal: gone.signal,
    }).catch(() => null);
    await new Promise((r) => setTimeout(r, 100));
    gone.abort();
    await abandoned;
    await new Promise((r) => setTimeout(r, 100));
    const created = await ask(channel);
    const job = await claim(runner, 0);
    expect(job?.run_id).toBe(created.id);
    await complete(runner, job!);
  });

  it("two runners claiming at once get different jobs", async () => {
    const { label, channel, runners } = await setup(2);
    const other = await newChannel(label);
    const a = await ask(channel);
    const b = await ask(other);
    const [j1, j2] = await Promise.all(runners.map((t) => claim(t, 2_000)));
    expect(new Set([j1!.run_id, j2!.run_id])).toEqual(new Set([a.id, b.id]));
    await complete(runners[0]!, j1!);
    await complete(runners[1]!, j2!);
  });

  it("a channel runs one run at a time, in order", async () => {
    const { channel, runner } = await setup();
    const first = await ask(channel, "first");
    const second = await ask(channel, "second");
    const j1 = (await claim(runner))!;
    expect(j1.run_id).toBe(first.id);
    expect(await claim(runner)).toBeNull();
    await complete(runner, j1);
    const j2 = (await claim(runner))!;
    expect(j2.run_id).toBe(second.id);
    await complete(runner, j2);
  });

  it("a run queued behind a holder that ended without the channel hearing of it starts at once", async () => {
    const { channel, runner } = await setup();
    const first = await ask(channel, "first");
    const j1 = (await claim(runner))!;
    expect(j1.run_id).toBe(first.id);
    // The Dispatcher's word that the run ended is lost: D1 has it ended, the channel does not know.
    await env.DB.prepare("UPDATE runs SET status = 'succeeded', finished_at = ? WHERE id = ?").bind(Date.now(), first.id).run();
    // The next run reads the holder's state with its insert (one D1 round trip) and sees it ended.
    const second = await ask(channel, "second");
    const j2 = (await claim(runner))!;
    expect(j2.run_id).toBe(second.id);
    await complete(runner, j2);
  });

  it("a channel pinned to a label only goes to runners with that label", async () => {
    const { channel, runner } = await setup();
    const outsider = (await admin("POST", "/api/runners", { name: `outsider-${crypto.randomUUID()}`, labels: ["elsewhere"] })).body.token;
    await ask(channel);
    expect(await claim(outsider)).toBeNull();
    const job = await claim(runner);
    expect(job).not.toBeNull();
    await complete(runner, job!);
  });
});

describe("runner labels in the claim", () => {
  it("narrow which registered labels a runner serves, and cannot add new ones", async () => {
    const { label, channel } = await setup(0);
    const both = (await admin("POST", "/api/runners", { name: `both-${label}`, labels: [label, "other"] })).body.token;
    await ask(channel);
    const narrowed = await call("POST", "/runner/v1/claim", both, { wait_ms: 0, labels: ["other"] });
    expect(narrowed.status).toBe(204);
    const refused = await call("POST", "/runner/v1/claim", both, { wait_ms: 0, labels: ["never-registered"] });
    expect(refused.status).toBe(422);
    expect(refused.body.error.field).toBe("labels");
    const served = await call("POST", "/runner/v1/claim", both, { wait_ms: 0, labels: [label] });
    expect(served.status).toBe(200);
    await complete(both, Job.parse(served.body));
  });
});

describe("cancel", () => {
  it("a queued run is removed and never reaches a runner", async () => {
    const { channel, runner } = await setup();
    const first = await ask(channel);
    const second = await ask(channel);
    const res = await admin("POST", `/api/runs/${second.id}/cancel`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ outcome: "cancelled", run: { status: "cancelled" } });
    const j1 = (await claim(runner))!;
    expect(j1.run_id).toBe(first.id);
    await complete(runner, j1);
    expect(await claim(runner)).toBeNull();
  });

  it("the active run waiting for a runner is removed from the Dispatcher", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const res = await admin("POST", `/api/runs/${r.id}/cancel`);
    expect(res.body.outcome).toBe("cancelled");
    expect(await claim(runner)).toBeNull();
    const next = await ask(channel);
    const job = (await claim(runner))!;
    expect(job.run_id).toBe(next.id);
    await complete(runner, job);
  });

  it("a running run is signalled to its runner through the heartbeat", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    expect((await heartbeat(runner, job)).body.cancel).toBe(false);
    const res = await admin("POST", `/api/runs/${r.id}/cancel`);
    expect(res.status).toBe(202);
    expect(res.body.outcome).toBe("signalled");
    expect((await heartbeat(runner, job)).body.cancel).toBe(true);
    await complete(runner, job, { status: "cancelled", error: "cancelled by user" });
    expect((await run(r.id)).status).toBe("cancelled");
  });
});

describe("events", () => {
  it("stores batches once each, in seq order, and refuses a caller without the lease", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    expect((await postEvents(runner, job, [1, 2, 3])).body.accepted).toBe(3);
    expect((await postEvents(runner, job, [2, 3])).body.accepted).toBe(0);
    expect((await postEvents(runner, job, [5, 4])).body.accepted).toBe(2);
    const stored = (await run(r.id)).events;
    expect(stored.map((e: any) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(stored[0]).toMatchObject({ type: "text", payload: { type: "text", text: "event 1" } });

    const stale = await call("POST", `/runner/v1/runs/${job.run_id}/events`, runner, { lease_id: "lease_wrong", events: [{ seq: 9, at: 1, data: { type: "text", text: "x" } }] });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("lease_lost");
    // Refused before anything is stored: the Dispatcher checks the lease first.
    expect((await run(r.id)).events.map((e: any) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    await complete(runner, job);
  });

  it("refuses malformed batches with 422 naming the field", async () => {
    const { channel, runner } = await setup();
    await ask(channel);
    const job = (await claim(runner))!;
    const bad = await call("POST", `/runner/v1/runs/${job.run_id}/events`, runner, { lease_id: job.lease_id, events: [{ seq: 0, at: 1, data: { type: "text", text: "x" } }] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("events.0.seq");
    await complete(runner, job);
  });
});

describe("completion", () => {
  it("stores the result, hands the session to the channel, and is idempotent", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    const first = await complete(runner, job);
    expect(first.body).toEqual({ ok: true, duplicate: false });
    expect((await complete(runner, job)).body).toEqual({ ok: true, duplicate: true });
    const different = await complete(runner, job, { result_text: "something else" });
    expect(different.status).toBe(409);

    expect(await run(r.id)).toMatchObject({ status: "succeeded", result_text: "done", session_id: "sess-1", input_tokens: 10, output_tokens: 20, cost_usd: 0.01, exit_code: 0, model: "claude-test" });
    expect((await admin("GET", `/api/channels/${channel}`)).body.session_id).toBe("sess-1");

    await ask(channel);
    const resumed = (await claim(runner))!;
    expect(resumed.session_id).toBe("sess-1");
    await complete(runner, resumed, { session_id: "sess-2" });

    const reset = await admin("DELETE", `/api/channels/${channel}/session`);
    expect(reset.body.session_id).toBeNull();
    await ask(channel);
    const fresh = (await claim(runner))!;
    expect(fresh.session_id).toBeNull();
    await complete(runner, fresh);
  });

  it("carries the run's last events: stored in order before the run ends, once, and only for the lease holder", async () => {
    const { channel, runners } = await setup(2);
    const r = await ask(channel);
    const job = (await claim(runners[0]!))!;
    await postEvents(runners[0]!, job, [1, 2]);
    const last = [3, 4].map((s) => ({ seq: s, at: Date.now(), data: { type: "text", text: `event ${s}` } }));
    // Another runner's completion with events stores nothing.
    expect((await complete(runners[1]!, job, { events: last })).status).toBe(409);
    expect((await run(r.id)).events.map((e: any) => e.seq)).toEqual([1, 2]);

    expect((await complete(runners[0]!, job, { events: last })).body).toEqual({ ok: true, duplicate: false });
    expect((await complete(runners[0]!, job, { events: last })).body).toEqual({ ok: true, duplicate: true });
    const done = await run(r.id);
    expect(done).toMatchObject({ status: "succeeded" });
    expect(done.events.map((e: any) => [e.seq, e.payload.text])).toEqual([1, 2, 3, 4].map((s) => [s, `event ${s}`]));
    // A finished run's stream replays all four, then the completion.
    const text = await (await SELF.fetch(`http://loop.test/api/runs/${r.id}/stream`, { headers: { authorization: ADMIN } })).text();
    expect(text.indexOf("event 4")).toBeLessThan(text.indexOf("event: complete"));
  });

  it("the run token works for its own channel until the run ends", async () => {
    const { label, channel, runner } = await setup();
    const other = await newChannel(label);
    await ask(channel);
    const job = (await claim(runner))!;
    expect((await call("GET", `/api/tasks?channel_id=${channel}`, job.mcp.token)).status).toBe(200);
    expect((await call("GET", `/api/channels/${other}`, job.mcp.token)).status).toBe(404);
    await complete(runner, job);
    expect((await call("GET", `/api/tasks?channel_id=${channel}`, job.mcp.token)).status).toBe(401);
  });
});

describe("leases", () => {
  it("an expired lease re-queues the run once, then ends it as lost", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const j1 = (await claim(runner))!;
    await heartbeat(runner, j1);
    await expireLeases();
    expect(await run(r.id)).toMatchObject({ status: "queued", attempt: 2 });

    const j2 = (await claim(runner))!;
    expect(j2).toMatchObject({ run_id: r.id, attempt: 2, first_seq: 1_000_001 });
    // The first holder's late messages are refused.
    expect((await complete(runner, j1)).status).toBe(409);
    expect((await heartbeat(runner, j1)).status).toBe(409);

    await heartbeat(runner, j2);
    await expireLeases();
    const lost = await run(r.id);
    expect(lost.status).toBe("lost");
    expect(lost.error).toMatch(/runner lost/);
    expect((await complete(runner, j2)).status).toBe(409);

    // The channel is free again.
    const next = await ask(channel);
    const j3 = (await claim(runner))!;
    expect(j3.run_id).toBe(next.id);
    await complete(runner, j3);
  });

  it("a lease never acknowledged goes back without using an attempt", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    await claim(runner);
    await expireLeases();
    expect(await run(r.id)).toMatchObject({ status: "queued", attempt: 1 });
    const again = (await claim(runner))!;
    expect(again.attempt).toBe(1);
    expect(again.first_seq).toBe(1_000_001);
    await complete(runner, again);
  });
});

// A runner's first request under a lease comes FIRST_CONTACT_MS after the claim and is
// whatever it has to send then (protocol/runner.ts): each kind must acknowledge the lease.
describe("the first request under a lease acknowledges it (issue 15)", () => {
  const pastAckWindow = () => runInDurableObject(dispatcher(), (o) => o.reap(Date.now() + LEASE_ACK_MS + 1));

  it("an event batch: past the acknowledgement window the lease is still held, and its answer carries a pending cancel", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    expect((await admin("POST", `/api/runs/${r.id}/cancel`)).body).toMatchObject({ outcome: "signalled" });
    const first = await postEvents(runner, job, [job.first_seq]);
    expect(first).toMatchObject({ status: 200, body: { accepted: 1, cancel: true } });
    await pastAckWindow();
    expect(await run(r.id)).toMatchObject({ status: "running", attempt: 1 });
    expect((await heartbeat(runner, job)).status).toBe(200);
    await complete(runner, job, { status: "cancelled", error: "cancelled on request" });
    expect(await run(r.id)).toMatchObject({ status: "cancelled", attempt: 1 });
  });

  it("a completion: a run that ended before its runner said anything else is settled, with its events", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    const events = [0, 1].map((i) => ({ seq: job.first_seq + i, at: Date.now(), data: { type: "text", text: `event ${i}` } }));
    expect((await complete(runner, job, { events })).body).toEqual({ ok: true, duplicate: false });
    const done = await run(r.id);
    expect(done).toMatchObject({ status: "succeeded", attempt: 1 });
    expect(done.events.map((e: any) => e.payload.text)).toEqual(["event 0", "event 1"]);
  });

  it("the window only: with nothing from the runner, the lease is held until LEASE_ACK_MS and gone after it", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    await runInDurableObject(dispatcher(), (o) => o.reap(Date.now() + LEASE_ACK_MS - 1_000));
    expect(await run(r.id)).toMatchObject({ status: "running", attempt: 1 });
    await pastAckWindow();
    expect(await run(r.id)).toMatchObject({ status: "queued", attempt: 1 });
    expect((await heartbeat(runner, job)).status).toBe(409);
    await complete(runner, (await claim(runner))!);
  });
});

describe("a claim answered after its runner died", () => {
  it("goes back after the acknowledgement window, on the same attempt; the silent runner's other parked claims are let go", async () => {
    const { label, channel, runners } = await setup(2);
    const [dead, alive] = runners as [string, string];
    const other = await newChannel(label);
    const unacked = await ask(channel);
    const acked = await ask(other);
    // The dead runner's claim takes a job and never says a word; the live one acknowledges its own.
    const j1 = (await claim(dead))!;
    const j2 = (await claim(alive))!;
    expect(j1.run_id).toBe(unacked.id);
    expect(j2.run_id).toBe(acked.id);
    expect((await heartbeat(alive, j2)).status).toBe(200);
    // A second claim of the dead runner is still parked (nothing tells the Worker its client left).
    const parked = claim(dead, 20_000);
    await new Promise((r) => setTimeout(r, 100));

    await runInDurableObject(dispatcher(), (o) => o.reap(Date.now() + LEASE_ACK_MS + 1));
    // The parked claim is let go (204), so the job cannot go to the dead runner again.
    expect(await parked).toBeNull();
    expect(await run(unacked.id)).toMatchObject({ status: "queued", attempt: 1 });
    // An acknowledged lease runs its whole TTL.
    expect((await heartbeat(alive, j2)).status).toBe(200);

    const again = (await claim(alive))!;
    expect(again).toMatchObject({ run_id: unacked.id, attempt: 1, first_seq: 1_000_001 });
    expect((await heartbeat(dead, j1)).status).toBe(409);
    await complete(alive, again);
    await complete(alive, j2);
  });
});

describe("abandon (a lease handed back)", () => {
  it("re-queues the run at once on its next attempt, and the next runner gets it", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const j1 = (await claim(runner))!;
    await heartbeat(runner, j1);
    const back = await abandon(runner, j1);
    expect(back).toMatchObject({ status: 200, body: { outcome: "requeued", attempt: 2 } });
    expect(await run(r.id)).toMatchObject({ status: "queued", attempt: 2 });
    // The old lease is dead for every message, the abandon itself included.
    expect((await heartbeat(runner, j1)).status).toBe(409);
    expect((await abandon(runner, j1)).status).toBe(409);

    const j2 = (await claim(runner))!;
    expect(j2).toMatchObject({ run_id: r.id, attempt: 2, first_seq: 1_000_001 });
    expect((await complete(runner, j2)).status).toBe(200);
    expect(await run(r.id)).toMatchObject({ status: "succeeded", attempt: 2 });
  });

  it("a lease handed back before any other request uses up its attempt all the same: its runner had the job", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const j1 = (await claim(runner))!;
    expect((await abandon(runner, j1, "shutdown")).body).toEqual({ outcome: "requeued", attempt: 2 });
    expect(await run(r.id)).toMatchObject({ status: "queued", attempt: 2 });
    await complete(runner, (await claim(runner))!);
  });

  it("a parked claim gets the handed-back run without waiting", async () => {
    const { channel, runners } = await setup(2);
    const r = await ask(channel);
    const j1 = (await claim(runners[0]!))!;
    await heartbeat(runners[0]!, j1);
    const parked = claim(runners[1]!, 10_000);
    await abandon(runners[0]!, j1, "shutdown");
    expect(await parked).toMatchObject({ run_id: r.id, attempt: 2 });
    await complete(runners[1]!, (await parked)!);
  });

  it("on the last attempt it ends the run as lost, saying why, and frees the channel", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const j1 = (await claim(runner))!;
    await heartbeat(runner, j1);
    await abandon(runner, j1);
    const j2 = (await claim(runner))!;
    await heartbeat(runner, j2);
    expect((await abandon(runner, j2, "shutdown")).body).toEqual({ outcome: "ended", attempt: 2 });
    expect(await run(r.id)).toMatchObject({ status: "lost", error: "runner lost: its runner shut down on attempt 2 of 2" });
    const next = await ask(channel);
    expect((await claim(runner))!.run_id).toBe(next.id);
  });

  it("a stale abandon (wrong lease, or another runner) gets 409 and changes nothing", async () => {
    const { channel, runners } = await setup(2);
    const r = await ask(channel);
    const job = (await claim(runners[0]!))!;
    await heartbeat(runners[0]!, job);
    const before = await run(r.id);
    const stale = await abandon(runners[0]!, job, "restart", "lease_not_this_one");
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe("lease_lost");
    expect((await abandon(runners[1]!, job)).status).toBe(409);
    expect(await run(r.id)).toEqual(before);
    // The real holder still holds it.
    expect((await heartbeat(runners[0]!, job)).status).toBe(200);
    await complete(runners[0]!, job);
    expect(await run(r.id)).toMatchObject({ status: "succeeded", attempt: 1 });
  });

  it("refuses a malformed abandon with 422 naming the field", async () => {
    const { channel, runner } = await setup();
    await ask(channel);
    const job = (await claim(runner))!;
    const bad = await call("POST", `/runner/v1/runs/${job.run_id}/abandon`, runner, { lease_id: job.lease_id, reason: "bored" });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("reason");
    expect((await heartbeat(runner, job)).status).toBe(200);
    await complete(runner, job);
  });
});

describe("live stream", () => {
  it("sends the backlog, then live events, then the completion", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    await postEvents(runner, job, [1, 2]);

    const res = await SELF.fetch(`http://loop.test/api/runs/${r.id}/stream`, { headers: { authorization: ADMIN } });
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (marker: string) => {
      while (!text.includes(marker)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil("id: 2");
    await postEvents(runner, job, [2, 3]);
    await readUntil("id: 3");
    await complete(runner, job);
    await readUntil("event: complete");

    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual([1, 2, 3]);
    const completeData = JSON.parse(/event: complete\ndata: (.*)\n/.exec(text)![1]!);
    expect(completeData).toMatchObject({ id: r.id, status: "succeeded", result_text: "done" });
  });

  it("a channel token cannot stream another channel's run", async () => {
    const { label, channel } = await setup();
    const other = await newChannel(label);
    const r = await ask(other);
    const token = (await admin("POST", "/api/tokens", { name: "own only", scope: [channel] })).body.token;
    const res = await SELF.fetch(`http://loop.test/api/runs/${r.id}/stream`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(404);
    await admin("POST", `/api/runs/${r.id}/cancel`);
  });

  it("a watcher reconnecting with Last-Event-ID gets only the events after it", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    await postEvents(runner, job, [1, 2, 3]);
    await complete(runner, job);
    const res = await SELF.fetch(`http://loop.test/api/runs/${r.id}/stream`, { headers: { authorization: ADMIN, "last-event-id": "2" } });
    const text = await res.text();
    expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([3]);
    expect(text).toContain("event: complete");
  });

  it("a finished run's stream replays its events and closes", async () => {
    const { channel, runner } = await setup();
    const r = await ask(channel);
    const job = (await claim(runner))!;
    await postEvents(runner, job, [1]);
    await complete(runner, job);
    const res = await SELF.fetch(`http://loop.test/api/runs/${r.id}/stream`, { headers: { authorization: ADMIN } });
    const text = await res.text();
    expect(text).toContain("id: 1");
    expect(text).toContain("event: complete");
  });
});
