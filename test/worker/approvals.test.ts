/**
 * Approvals in workerd (issue 13): policy CRUD, a deferred completion parking the run and
 * holding the channel's queue, decisions re-queuing it as a resume job, idempotency, 409s,
 * expiry by the sweep. Runners are played over /runner/v1; each test pins its channel to a
 * label of its own (the Dispatcher is shared by the file).
 */
import { createScheduledController, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { eq } from "drizzle-orm";
import { Job } from "../../protocol/runner.ts";
import { runs } from "../../core/db/schema.ts";
import worker from "../../worker/index.ts";
import { insertRun, mintToken, store } from "./helpers.ts";
import { admin, api as call, ask, claim, complete, getRun, labelledSetup } from "./runner-protocol.ts";

async function setup(policy?: object) {
  const { channel, runner } = await labelledSetup("ap");
  if (policy) expect((await admin("PUT", `/api/channels/${channel}/policy`, policy)).status).toBe(200);
  return { channel, runner };
}

const CALL = { id: "toolu_01Write", name: "Bash", input: { command: "echo approved > approved.txt", description: "write" } };
const deferJob = (token: string, job: Job, deferred: { id: string; name: string; input: object } = CALL) =>
  call("POST", `/runner/v1/runs/${job.run_id}/complete`, token, {
    lease_id: job.lease_id, status: "deferred", session_id: "sess-a", usage: { input_tokens: 10, output_tokens: 5 }, cost_usd: 0.01, exit_code: 0, deferred_tool_use: deferred,
  });
const succeed = (token: string, job: Job) => complete(token, job, { session_id: "sess-a", usage: { input_tokens: 7, output_tokens: 3 }, cost_usd: 0.02 });
const sweepNow = () => worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
const approve = (id: number, body: object) => admin("POST", `/api/runs/${id}/approval`, body);

describe("permission policy", () => {
  it("defaults to auto, is replaced by PUT, validated field by field, and travels in the Job", async () => {
    const { channel, runner } = await setup();
    expect((await admin("GET", `/api/channels/${channel}/policy`)).body).toEqual({ mode: "auto", allow: [], deny: [], approval_timeout: "24h", members_can_approve: false });
    // auto with no deny rules changes nothing: no policy in the Job
    await ask(channel);
    expect((await claim(runner))!.policy).toBeNull();

    const bad = await admin("PUT", `/api/channels/${channel}/policy`, { mode: "ask", allow: ["Bash(npm test:*"] });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("allow.0");
    expect((await admin("PUT", `/api/channels/${channel}/policy`, { mode: "sometimes" })).body.error.field).toBe("mode");
    expect((await admin("PUT", `/api/channels/${channel}/policy`, { approval_timeout: "1 day" })).body.error.field).toBe("approval_timeout");
    expect((await admin("GET", `/api/channels/${channel}/policy`)).body.mode).toBe("auto");

    const put = await admin("PUT", `/api/channels/${channel}/policy`, { mode: "ask", allow: ["Read", "Bash(npm test:*)"], approval_timeout: "2h" });
    expect(put.body).toMatchObject({ mode: "ask", allow: ["Read", "Bash(npm test:*)"], approval_timeout: "2h" });
    expect((await admin("GET", `/api/channels/${channel}`)).body.permission_policy.mode).toBe("ask");
  });

  it("a run token cannot change its own policy or approve its own calls", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    const job = (await claim(runner))!;
    const own = await call("PUT", `/api/channels/${channel}/policy`, job.mcp.token, { mode: "auto" });
    expect(own.status).toBe(403);
    await deferJob(runner, job);
    // the run token is revoked with the lease; a fresh run-scoped actor is covered by the MCP test
    expect((await getRun(r.id)).status).toBe("waiting_approval");
  });

  it("a task's override replaces the channel's policy for its runs", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const task = (await admin("POST", "/api/tasks", { channel_id: channel, type: "once", schedule: "in 1h", prompt: "p" })).body;
    const patched = await admin("PATCH", `/api/tasks/${task.id}`, { permission_policy: { mode: "read-only" } });
    expect(patched.body.permission_policy.mode).toBe("read-only");
    await insertRun({ channelId: channel, taskId: task.id, prompt: "p" });
    await env.CHANNEL_SESSION.getByName(channel).enqueue(channel);
    const job = (await claim(runner))!;
    expect(job.policy?.mode).toBe("read-only");
  });
});

describe("a deferred call", () => {
  it("parks the run, holds the channel's queue, and frees the runner for other channels", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const first = await ask(channel, "write the file");
    const job = (await claim(runner))!;
    expect(job.policy?.mode).toBe("ask");
    expect(job.approval).toBeNull();
    expect((await deferJob(runner, job)).status).toBe(200);

    const parked = await getRun(first.id);
    expect(parked).toMatchObject({ status: "waiting_approval", finished_at: null, session_id: "sess-a", pending_approval: { deferral: 1, tool_use_id: "toolu_01Write", tool_name: "Bash", input: CALL.input } });
    expect(Date.parse(parked.pending_approval.expires_at) - Date.parse(parked.pending_approval.requested_at)).toBe(24 * 3_600_000);
    const requested = parked.events.find((e: any) => e.type === "approval_requested");
    expect(requested.payload).toMatchObject({ deferral: 1, name: "Bash", expires_at: parked.pending_approval.expires_at });

    // Same conversation: a second run in the channel waits behind the parked one.
    const second = await ask(channel, "next");
    expect(await claim(runner)).toBeNull();
    expect((await getRun(second.id)).status).toBe("queued");
  });

  it("approve re-queues it as a resume job carrying the decision; a double click changes nothing", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    const job = (await claim(runner))!;
    await deferJob(runner, job);
    const second = await ask(channel, "next");

    const ok = await approve(r.id, { decision: "approve", deferral: 1 });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ duplicate: false, run: { status: "queued", pending_approval: null } });
    expect((await approve(r.id, { decision: "approve", deferral: 1 })).body.duplicate).toBe(true);

    const resumed = (await claim(runner))!;
    expect(resumed.run_id).toBe(r.id);
    expect(resumed.session_id).toBe("sess-a");
    expect(resumed.approval).toEqual({ tool_use_id: "toolu_01Write", tool_name: "Bash", behavior: "allow", reason: null });
    // the resumed lease numbers its events past the ones the run has
    const before = (await getRun(r.id)).events;
    expect(resumed.first_seq).toBeGreaterThan(Math.max(...before.map((e: any) => e.seq)));

    expect((await succeed(runner, resumed)).status).toBe(200);
    const done = await getRun(r.id);
    expect(done).toMatchObject({ status: "succeeded", input_tokens: 17, output_tokens: 8 });
    expect(done.cost_usd).toBeCloseTo(0.03);
    const decided = done.events.find((e: any) => e.type === "approval_decided");
    expect(decided.payload).toMatchObject({ decision: "approve", by: "admin", deferral: 1 });

    // the queue moves on once it is really finished
    expect((await claim(runner))!.run_id).toBe(second.id);
    // a decision on a finished run: the same answer is a duplicate, another is a 409 naming the status
    expect((await approve(r.id, { decision: "approve", deferral: 1 })).body.duplicate).toBe(true);
    const late = await approve(r.id, { decision: "deny" });
    expect(late.status).toBe(409);
    expect(late.body.error.message).toContain("succeeded");
  });

  it("deny carries the reason; an older deferral's answer is refused; always allow adds the narrowest rule", async () => {
    const { channel, runner } = await setup({ mode: "ask", allow: ["Read"] });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    expect((await approve(r.id, { decision: "deny", reason: "not today" })).status).toBe(200);
    const resumed = (await claim(runner))!;
    expect(resumed.approval).toMatchObject({ behavior: "deny", reason: "not today" });

    // the run defers again: a second, separate approval
    await deferJob(runner, resumed, { id: "toolu_02", name: "Bash", input: { command: "npm run build" } });
    expect((await getRun(r.id)).pending_approval.deferral).toBe(2);
    const stale = await approve(r.id, { decision: "approve", deferral: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.error.field).toBe("deferral");

    expect((await approve(r.id, { decision: "always_allow", deferral: 2 })).status).toBe(200);
    expect((await admin("GET", `/api/channels/${channel}/policy`)).body.allow).toEqual(["Read", "Bash(npm run build)"]);
    expect((await claim(runner))!.approval).toMatchObject({ tool_use_id: "toolu_02", behavior: "allow" });
  });

  it("always allow on a call no exact rule covers is a 422 naming rule, and changes nothing; with a rule given it goes through", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!); // echo approved > approved.txt: a redirection
    const refused = await approve(r.id, { decision: "always_allow" });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: "no_narrow_rule", field: "rule" });
    expect((await getRun(r.id)).status).toBe("waiting_approval");
    expect((await admin("GET", `/api/channels/${channel}/policy`)).body.allow).toEqual([]);

    expect((await approve(r.id, { decision: "always_allow", rule: "Bash(echo:*)" })).status).toBe(200);
    expect((await admin("GET", `/api/channels/${channel}/policy`)).body.allow).toEqual(["Bash(echo:*)"]);
  });

  it("a decision on a run that is not waiting is a 409 with its status; bad input is a 422", async () => {
    const { channel } = await setup({ mode: "ask" });
    const r = await ask(channel);
    const res = await approve(r.id, { decision: "approve" });
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain("queued");
    const bad = await approve(r.id, { decision: "maybe" });
    expect(bad.status).toBe(422);
    expect(bad.body.error.field).toBe("decision");
  });

  it("a channel token may decide; a token for another channel gets 404", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    const elsewhere = (await admin("POST", "/api/channels", { dir_path: `/home/me/elsewhere-${crypto.randomUUID()}` })).body.id;
    const other = await mintToken([elsewhere], { name: "other" });
    expect((await call("POST", `/api/runs/${r.id}/approval`, other.token, { decision: "approve" })).status).toBe(404);
    const mine = await mintToken([channel], { name: "mine" });
    const ok = await call("POST", `/api/runs/${r.id}/approval`, mine.token, { decision: "approve" });
    expect(ok.status).toBe(200);
    expect((await getRun(r.id)).events.find((e: any) => e.type === "approval_decided").payload.by).toBe(mine.id);
  });

  it("cancelling a waiting run ends it and frees the channel", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    const next = await ask(channel, "next");
    const res = await admin("POST", `/api/runs/${r.id}/cancel`);
    expect(res.body.outcome).toBe("cancelled");
    expect((await claim(runner))!.run_id).toBe(next.id);
  });
});

describe("budgets", () => {
  it("a resume is checked like a start: past a cap the decided run ends skipped_budget and never reaches a runner", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    const next = await ask(channel, "next");
    // The channel went over its cap while the call waited (a cap of 0 is over at once).
    expect((await admin("PUT", `/api/channels/${channel}/budget`, { daily_usd: 0 })).status).toBe(200);

    expect((await approve(r.id, { decision: "approve" })).status).toBe(200);
    const ended = await getRun(r.id);
    expect(ended).toMatchObject({ status: "skipped_budget", pending_approval: null, session_id: "sess-a" });
    expect(ended.error).toMatch(/^over budget: the channel's daily budget/);
    // the decision stays on record, and the queue behind it is checked the same way
    expect(ended.events.find((e: any) => e.type === "approval_decided").payload).toMatchObject({ decision: "approve", by: "admin" });
    expect((await getRun(next.id)).status).toBe("skipped_budget");
    expect(await claim(runner)).toBeNull();

    // The channel is free again: with the cap lifted, a new run starts.
    expect((await admin("PUT", `/api/channels/${channel}/budget`, { daily_usd: null })).status).toBe(200);
    const later = await ask(channel, "later");
    expect((await claim(runner))!.run_id).toBe(later.id);
  });

  it("counts what the waiting run itself spent before it waited (no finished run has it yet)", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!); // $0.01 spent, run unfinished
    expect((await admin("PUT", `/api/channels/${channel}/budget`, { daily_usd: 0.005 })).status).toBe(200);
    await approve(r.id, { decision: "approve" });
    const ended = await getRun(r.id);
    expect(ended.status).toBe("skipped_budget");
    expect(ended.error).toBe("over budget: the channel's daily budget: $0.0100 spent of $0.0050 today (UTC)");
    expect(await claim(runner)).toBeNull();
  });

  it("under the cap the resume goes out as usual", async () => {
    const { channel, runner } = await setup({ mode: "ask" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    expect((await admin("PUT", `/api/channels/${channel}/budget`, { daily_usd: 100 })).status).toBe(200);
    await approve(r.id, { decision: "deny", reason: "no" });
    expect((await claim(runner))!).toMatchObject({ run_id: r.id, approval: { behavior: "deny", reason: "no" } });
  });
});

describe("expiry", () => {
  it("the sweep denies an undecided call with 'no decision' and the run resumes", async () => {
    const { channel, runner } = await setup({ mode: "ask", approval_timeout: "1m" });
    const r = await ask(channel);
    await deferJob(runner, (await claim(runner))!);
    // not yet due: nothing happens
    await sweepNow();
    expect((await getRun(r.id)).status).toBe("waiting_approval");
    await store().update(runs).set({ approvalExpiresAt: Date.now() - 1 }).where(eq(runs.id, r.id));
    await sweepNow();
    const after = await getRun(r.id);
    expect(after.status).toBe("queued");
    expect(after.events.find((e: any) => e.type === "approval_decided").payload).toMatchObject({ decision: "deny", by: "expiry", reason: "no decision" });
    expect((await claim(runner))!.approval).toMatchObject({ behavior: "deny", reason: "no decision" });
  });
});
