/**
 * A task's auto_delete_sec (issue 16): the thread a scheduled run started is deleted on the
 * fake Discord that many seconds after the run ends, by the minute sweep (worker.scheduled),
 * exactly once; whichever comes last of the run's end and the thread's creation records it;
 * a failed call is retried later and Discord's 404 counts as done. The deletion is a D1 row,
 * so nothing about it lives only in memory.
 */
import { createScheduledController, env, runDurableObjectAlarm } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { RecordedCall } from "../fakes/discord.ts";
import { runs, threadDeletions } from "../../core/db/schema.ts";
import { THREAD_DELETE_RETRY_MS } from "../../core/domain/thread-deletion-rule.ts";
import worker from "../../worker/index.ts";
import { deletedThreads, discordCalls, fakeOrigin, fakeRule, newPlace, run, runnerFor, waitForCalls, type Place } from "./discord-helpers.ts";
import { store } from "./helpers.ts";

const isFinal = (c: RecordedCall) => /(^|\n)-# (✅|❌|⚠️|⏹️) run #\d+/.test(c.body?.content ?? "");
const sweep = () => worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron: "* * * * *" }), env);
const deletion = async (threadId: string) => (await store().select().from(threadDeletions).where(eq(threadDeletions.threadId, threadId)))[0];
const deleteCalls = async (threadId: string) => (await discordCalls(`/channels/${threadId}`)).filter((c) => c.method === "DELETE" && c.path === `/channels/${threadId}`);
const runRow = async (id: number) => (await store().query.runs.findFirst({ where: eq(runs.id, id) }))!;

/** Sweeps (as the Cron Trigger does, once a minute) until `done`; fails after `timeoutMs`. */
async function sweepUntil(what: string, done: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await sweep();
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A task with auto_delete_sec in a fresh Discord channel, its occurrence fired and claimed. */
async function scheduledRun(autoDeleteSec: number, beforeFiring?: (place: Place) => Promise<void>) {
  const place = newPlace();
  const res = await run("schedule", { schedule: "30m", type: "interval", prompt: "Check the nightly build", auto_delete_sec: autoDeleteSec }, place);
  const taskId = Number(/task `#(\d+)`/.exec(res.content)![1]);
  const runner = await runnerFor(place.channelId);
  await beforeFiring?.(place);
  await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(Date.now() - 1_000, taskId).run();
  await runDurableObjectAlarm(env.CHANNEL_SESSION.getByName(place.channelId));
  const job = await runner.claim();
  return { place, taskId, runner, job };
}

const threadOf = async (place: Place) => (await waitForCalls(`/channels/${place.channelId}/threads`, (c) => c.some((t) => t.status === 201))).find((t) => t.status === 201)!;

describe("auto_delete_sec", { timeout: 60_000 }, () => {
  it("the sweep deletes a scheduled run's thread auto_delete_sec after the run ends, once", async () => {
    const { place, taskId, runner, job } = await scheduledRun(1);
    const threadId = (await threadOf(place)).response.id as string;
    await runner.complete(job, { result_text: "Build is green." });
    await waitForCalls(`/channels/${threadId}/messages`, (c) => c.some(isFinal));

    const ended = await runRow(job.run_id);
    const row = await deletion(threadId);
    expect(row).toMatchObject({ runId: job.run_id, deleteAt: ended.finishedAt! + 1_000, attempts: 0 });

    await sweepUntil("the thread's deletion", async () => (await deletedThreads()).some((t) => t.id === threadId));
    const [gone] = (await deletedThreads()).filter((t) => t.id === threadId);
    expect(gone).toMatchObject({ parent_id: place.channelId, name: `⏰ Task #${taskId}: Check the nightly build` });
    expect(gone!.deleted_at).toBeGreaterThanOrEqual(row!.deleteAt);
    expect(await deletion(threadId)).toBeUndefined();

    // Later sweeps leave it alone: one DELETE in all.
    await sweep();
    expect(await deleteCalls(threadId)).toHaveLength(1);
  });

  it("a task without auto_delete_sec keeps its threads", async () => {
    const { place, runner, job } = await scheduledRun(0);
    const threadId = (await threadOf(place)).response.id as string;
    await runner.complete(job, { result_text: "Kept." });
    await waitForCalls(`/channels/${threadId}/messages`, (c) => c.some(isFinal));
    await sweep();
    expect(await deletion(threadId)).toBeUndefined();
    expect(await deleteCalls(threadId)).toEqual([]);
  });

  it("a run that ends before its thread exists has the thread deleted all the same", async () => {
    // Discord holds the thread's creation back (a 429 for 3 s); the run ends meanwhile.
    const { place, runner, job } = await scheduledRun(1, (p) => fakeRule("ratelimit", { match: `/channels/${p.channelId}/threads`, count: 1, retry_after: 3 }));
    await runner.complete(job, { result_text: "Done before the thread." });
    const created = await threadOf(place);
    const threadId = created.response.id as string;
    const ended = await runRow(job.run_id);
    expect(created.at).toBeGreaterThan(ended.finishedAt!);
    expect(await deletion(threadId)).toMatchObject({ runId: job.run_id, deleteAt: ended.finishedAt! + 1_000 });
    await waitForCalls(`/channels/${threadId}/messages`, (c) => c.some(isFinal));
    await sweepUntil("the thread's deletion", async () => (await deletedThreads()).some((t) => t.id === threadId));
  });

  it("a failed deletion is tried again later, and Discord's 404 (already gone) counts as done", async () => {
    const { place, runner, job } = await scheduledRun(1);
    const threadId = (await threadOf(place)).response.id as string;
    await runner.complete(job, { result_text: "Flaky Discord." });
    await waitForCalls(`/channels/${threadId}/messages`, (c) => c.some(isFinal));
    await fakeRule("fail", { match: `/channels/${threadId}`, count: 1, status: 500 });

    await sweepUntil("a deletion attempt", async () => (await deleteCalls(threadId)).length > 0);
    const [failed] = await deleteCalls(threadId);
    expect(failed!.status).toBe(500);
    const row = await deletion(threadId);
    expect(row).toMatchObject({ attempts: 1 });
    expect(row!.deleteAt).toBeGreaterThan(failed!.at + THREAD_DELETE_RETRY_MS - 10_000);
    // Not due yet: the next sweep waits.
    await sweep();
    expect(await deleteCalls(threadId)).toHaveLength(1);

    // Meanwhile someone deletes the thread in Discord; then its retry comes due.
    const byHand = await fetch(`${fakeOrigin()}/api/v10/channels/${threadId}`, { method: "DELETE", headers: { authorization: `Bot ${env.DISCORD_BOT_TOKEN}` } });
    expect(byHand.status).toBe(200);
    await store().update(threadDeletions).set({ deleteAt: Date.now() - 1 }).where(eq(threadDeletions.threadId, threadId));
    await sweep();
    expect((await deleteCalls(threadId)).map((c) => c.status)).toEqual([500, 200, 404]);
    expect(await deletion(threadId)).toBeUndefined();
  });
});
