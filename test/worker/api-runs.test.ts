/**
 * /api/runs: reading run history. Runs are written by the run pipeline, not this API, so
 * the tests seed them straight into D1 and read them back through the Worker.
 */
import { describe, expect, it } from "vitest";
import {
  call,
  callOk,
  createChannel,
  createTask,
  expectError,
  insertDiscordChannel,
  insertRun,
  insertRunEvents,
  RunList,
  RunWithEvents,
} from "./helpers.ts";

const T0 = Date.parse("2026-05-01T10:00:00Z");

const listIds = async (query: string) => (await callOk(RunList, `/api/runs?${query}`)).runs.map((r) => r.id);

describe("GET /api/runs", () => {
  it("returns every stored column in its public shape", async () => {
    const channel = await createChannel();
    const task = await createTask(channel.id);
    const id = await insertRun({
      channelId: channel.id,
      taskId: task.id,
      trigger: "schedule",
      status: "succeeded",
      prompt: "nightly report",
      scheduledFor: T0,
      lateMs: 1500,
      missedCount: 2,
      attempt: 2,
      createdAt: T0 + 1000,
      startedAt: T0 + 2000,
      finishedAt: T0 + 62_000,
      resultText: "all green",
      sessionId: "sess_1",
      inputTokens: 1200,
      outputTokens: 340,
      cacheReadTokens: 800,
      cacheWriteTokens: 100,
      costUsd: 0.0123,
      exitCode: 0,
      model: "claude-sonnet",
      runnerId: "runner_secret_internal",
    });
    const { runs } = await callOk(RunList, `/api/runs?channel_id=${channel.id}`);
    expect(runs).toEqual([
      {
        id,
        task_id: task.id,
        channel_id: channel.id,
        trigger: "schedule",
        status: "succeeded",
        prompt: "nightly report",
        scheduled_for: "2026-05-01T10:00:00.000Z",
        late_ms: 1500,
        missed_count: 2,
        attempt: 2,
        created_at: "2026-05-01T10:00:01.000Z",
        started_at: "2026-05-01T10:00:02.000Z",
        finished_at: "2026-05-01T10:01:02.000Z",
        result_text: "all green",
        error: null,
        session_id: "sess_1",
        input_tokens: 1200,
        output_tokens: 340,
        cache_read_tokens: 800,
        cache_write_tokens: 100,
        cost_usd: 0.0123,
        exit_code: 0,
        model: "claude-sonnet",
        loop_id: null,
        iteration: null,
        pending_approval: null,
      },
    ]);
  });

  it("filters by channel, newest first", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const a1 = await insertRun({ channelId: a.id });
    const b1 = await insertRun({ channelId: b.id });
    const a2 = await insertRun({ channelId: a.id });
    expect(await listIds(`channel_id=${a.id}`)).toEqual([a2, a1]);
    expect(await listIds(`channel_id=${b.id}`)).toEqual([b1]);
  });

  it("filters by a channel's Discord id", async () => {
    const { id, discordId } = await insertDiscordChannel();
    const run = await insertRun({ channelId: id, trigger: "discord" });
    expect(await listIds(`channel_id=${discordId}`)).toEqual([run]);
  });

  it("filters by task", async () => {
    const channel = await createChannel();
    const t1 = await createTask(channel.id);
    const t2 = await createTask(channel.id);
    const r1 = await insertRun({ channelId: channel.id, taskId: t1.id, trigger: "schedule", scheduledFor: T0 });
    await insertRun({ channelId: channel.id, taskId: t2.id, trigger: "schedule", scheduledFor: T0 });
    const r3 = await insertRun({ channelId: channel.id, taskId: t1.id, trigger: "schedule", scheduledFor: T0 + 60_000 });
    await insertRun({ channelId: channel.id });
    expect(await listIds(`task_id=${t1.id}`)).toEqual([r3, r1]);
  });

  it("filters by status, alone and together with a channel", async () => {
    const a = await createChannel();
    const b = await createChannel();
    const failedA = await insertRun({ channelId: a.id, status: "failed", error: "exit 1" });
    await insertRun({ channelId: a.id, status: "succeeded" });
    const failedB = await insertRun({ channelId: b.id, status: "failed" });
    expect(await listIds(`channel_id=${a.id}&status=failed`)).toEqual([failedA]);
    const allFailed = await listIds("status=failed");
    expect(allFailed).toEqual(expect.arrayContaining([failedA, failedB]));
    const statuses = (await callOk(RunList, "/api/runs?status=failed")).runs.map((r) => r.status);
    expect(new Set(statuses)).toEqual(new Set(["failed"]));
  });

  it("returns at most `limit` runs, and 50 when no limit is given", async () => {
    const channel = await createChannel();
    const ids: number[] = [];
    for (let i = 0; i < 55; i++) ids.push(await insertRun({ channelId: channel.id }));
    const newestFirst = ids.toReversed();
    expect(await listIds(`channel_id=${channel.id}`)).toEqual(newestFirst.slice(0, 50));
    expect(await listIds(`channel_id=${channel.id}&limit=3`)).toEqual(newestFirst.slice(0, 3));
    expect(await listIds(`channel_id=${channel.id}&limit=200`)).toEqual(newestFirst);
  });

  it("pages backwards with before=<id>: pages do not overlap and together hold every run", async () => {
    const channel = await createChannel();
    const ids: number[] = [];
    for (let i = 0; i < 7; i++) ids.push(await insertRun({ channelId: channel.id }));
    const seen: number[] = [];
    let before: number | undefined;
    for (let page = 0; page < 5; page++) {
      const q = `channel_id=${channel.id}&limit=3${before ? `&before=${before}` : ""}`;
      const got = await listIds(q);
      if (got.length === 0) break;
      expect(got.length).toBeLessThanOrEqual(3);
      if (before) expect(Math.max(...got)).toBeLessThan(before);
      seen.push(...got);
      before = got.at(-1);
    }
    expect(seen).toEqual(ids.toReversed());
  });

  it("answers 404 for a channel that does not exist", async () => {
    await expectError(await call("/api/runs?channel_id=ch_nope"), 404, { code: "not_found" });
  });
});

describe("GET /api/runs/:id", () => {
  it("returns the run with its events ordered by seq, whatever order they were written in", async () => {
    const channel = await createChannel();
    const id = await insertRun({ channelId: channel.id, status: "running", startedAt: T0 });
    const other = await insertRun({ channelId: channel.id });
    await insertRunEvents(id, [
      { seq: 3, type: "result", payload: { text: "done", cost: 0.01 }, at: T0 + 3000 },
      { seq: 1, type: "system", payload: { session_id: "s1" }, at: T0 + 1000 },
      { seq: 2, type: "assistant", payload: ["a", { b: null }], at: T0 + 2000 },
    ]);
    await insertRunEvents(other, [{ seq: 1, type: "system", payload: {}, at: T0 }]);

    const run = await callOk(RunWithEvents, `/api/runs/${id}`);
    expect(run).toMatchObject({ id, channel_id: channel.id, status: "running", started_at: "2026-05-01T10:00:00.000Z" });
    expect(run.events).toEqual([
      { seq: 1, type: "system", payload: { session_id: "s1" }, at: "2026-05-01T10:00:01.000Z" },
      { seq: 2, type: "assistant", payload: ["a", { b: null }], at: "2026-05-01T10:00:02.000Z" },
      { seq: 3, type: "result", payload: { text: "done", cost: 0.01 }, at: "2026-05-01T10:00:03.000Z" },
    ]);
  });

  it("returns an empty event list for a run with no events yet", async () => {
    const channel = await createChannel();
    const id = await insertRun({ channelId: channel.id });
    expect((await callOk(RunWithEvents, `/api/runs/${id}`)).events).toEqual([]);
  });

  it("answers 404 for a run that does not exist", async () => {
    await expectError(await call("/api/runs/987654"), 404, { code: "not_found", field: null });
  });
});
