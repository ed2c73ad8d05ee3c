/**
 * The partial indexes of migration 0009 (issue 15: D1 bills every index entry as a row
 * written). Each lookup that stands on one must still be planned on it, each unique index
 * must still refuse a duplicate where it did before, and a run's life writes only the index
 * entries its queries need. Plans come from SQLite itself (EXPLAIN QUERY PLAN) on the SQL
 * drizzle generates for the product's own query builders (core/db/run-lookups.ts).
 */
import { env } from "cloudflare:workers";
import { and, asc, desc, eq, gte, inArray, lt, sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import type { RunStatus } from "../../protocol/api.ts";
import { channelsQueuedBefore, expiredApprovals, nextQueuedRun, rescuedCount, runStatusIn, runStatusIs } from "../../core/db/run-lookups.ts";
import { channels, runs } from "../../core/db/schema.ts";
import { createChannel, createTask, insertDiscordChannel, insertRun, store, uniqueDir } from "./helpers.ts";

interface Plannable {
  toSQL(): { sql: string; params: unknown[] };
}

/** SQLite's plan for a statement, its steps joined: "SEARCH runs USING INDEX runs_queued (…)". */
async function plan(q: Plannable | { sql: string; params: unknown[] }): Promise<string> {
  const { sql: text, params } = "toSQL" in q ? q.toSQL() : q;
  const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${text}`)
    .bind(...params)
    .all<{ detail: string }>();
  return results.map((r) => r.detail).join(" | ");
}

const uses = (index: string) => new RegExp(`USING (COVERING )?INDEX ${index}\\b`);

/** Drizzle wraps the driver's error ("Failed query: …"); SQLite's own message is its cause. */
async function expectUniqueViolation(write: Promise<unknown>): Promise<void> {
  const err = await write.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, "the duplicate was accepted").not.toBeNull();
  expect(String((err as { cause?: unknown }).cause ?? err)).toMatch(/UNIQUE constraint failed/);
}

async function rowsWritten(statement: D1PreparedStatement): Promise<number> {
  const { meta } = await statement.run();
  return meta.rows_written;
}

describe("lookups on partial indexes", () => {
  const db = store();

  it("a channel's next queued run and the sweep's stuck queues use runs_status", async () => {
    expect(await plan(nextQueuedRun(db, "ch_plan"))).toMatch(/USING COVERING INDEX runs_status \(status=\? AND channel_id=\?\)/);
    expect(await plan(channelsQueuedBefore(db, Date.now(), 50))).toMatch(uses("runs_status"));
  });

  it("a listing by status uses runs_status, except succeeded runs, found walking ids backwards", async () => {
    const listing = (status: RunStatus) => db.query.runs.findMany({ where: runStatusIs(status), orderBy: desc(runs.id), limit: 50 });
    for (const status of ["queued", "running", "waiting_approval", "failed", "cancelled", "lost", "skipped_budget"] as const) {
      expect(await plan(listing(status)), status).toMatch(uses("runs_status"));
    }
    expect(await plan(listing("succeeded"))).toMatch(/^SCAN runs$/);
  });

  it("a Discord channel's live runs (/loop status) use runs_status, not every run of the channel", async () => {
    const ids = db.select({ id: channels.id }).from(channels).where(eq(channels.discordChannelId, "123"));
    const live = db.select().from(runs).where(and(inArray(runs.channelId, ids), runStatusIn(["running", "queued", "waiting_approval"]))).orderBy(desc(runs.id)).limit(200);
    expect(await plan(live)).toMatch(/USING INDEX runs_status \(status=\? AND channel_id=\?\)/);
  });

  it("the count of the sweep's rescues uses runs_rescued", async () => {
    expect(await plan(rescuedCount(db, Date.now() - 3_600_000))).toMatch(uses("runs_rescued"));
  });

  it("expired approvals use runs_approval_expires", async () => {
    expect(await plan(expiredApprovals(db, Date.now(), 25))).toMatch(uses("runs_approval_expires"));
  });

  it("spend over a period uses runs_finished, and per channel runs_channel_finished", async () => {
    const since = Date.now() - 86_400_000;
    // The shapes of the usage ledger's and the channel spend's WHERE (core/domain/usage.ts, channel-spend.ts).
    const all = db.select({ usd: sql`total(${runs.costUsd})` }).from(runs).where(and(gte(runs.finishedAt, since), lt(runs.finishedAt, Date.now())));
    expect(await plan(all)).toMatch(uses("runs_finished"));
    const one = db.select({ usd: sql`total(${runs.costUsd})` }).from(runs).where(and(eq(runs.channelId, "ch_plan"), gte(runs.finishedAt, since)));
    expect(await plan(one)).toMatch(uses("runs_channel_finished"));
  });

  it("a loop's iterations, a task's runs, a message's run and a directory's channel use their unique indexes", async () => {
    const iterations = db.query.runs.findMany({ where: eq(runs.loopId, 1), orderBy: asc(runs.iteration) });
    expect(await plan(iterations)).toMatch(uses("runs_loop_iteration"));
    expect(await plan(db.select({ id: runs.id }).from(runs).where(eq(runs.taskId, 1)))).toMatch(uses("runs_task_occurrence"));
    expect(await plan(db.query.runs.findFirst({ where: eq(runs.discordMessageId, "m1") }))).toMatch(uses("runs_discord_message"));
    expect(await plan(db.query.channels.findFirst({ where: eq(channels.dirPath, "/srv/x") }))).toMatch(uses("channels_dir_path"));
  });
});

describe("uniqueness kept by the partial unique indexes", () => {
  it("one run per task occurrence; runs without an occurrence are not limited", async () => {
    const ch = await createChannel();
    const task = await createTask(ch.id);
    await insertRun({ channelId: ch.id, taskId: task.id, scheduledFor: 1_000, trigger: "schedule", prompt: "p" });
    await expectUniqueViolation(insertRun({ channelId: ch.id, taskId: task.id, scheduledFor: 1_000, trigger: "schedule", prompt: "p" }));
    // "Run now" twice: same task, no occurrence.
    await insertRun({ channelId: ch.id, taskId: task.id, trigger: "api", prompt: "p" });
    await insertRun({ channelId: ch.id, taskId: task.id, trigger: "api", prompt: "p" });
    // The scheduler's conditional insert (core/domain/scheduler.ts) meets the occurrence and inserts nothing.
    const again = await env.DB.prepare(
      `INSERT INTO runs (task_id, channel_id, trigger, status, prompt, scheduled_for, created_at)
       SELECT id, channel_id, 'schedule', 'queued', prompt, ?1, ?2 FROM tasks WHERE id = ?3
       ON CONFLICT (task_id, scheduled_for) WHERE task_id IS NOT NULL DO NOTHING RETURNING id`,
    )
      .bind(1_000, Date.now(), task.id)
      .all();
    expect(again.results).toEqual([]);
  });

  it("one run per Discord message, one per loop iteration, one channel per directory", async () => {
    const ch = await createChannel();
    await insertRun({ channelId: ch.id, trigger: "discord", prompt: "p", discordMessageId: "900" });
    await expectUniqueViolation(insertRun({ channelId: ch.id, trigger: "discord", prompt: "p", discordMessageId: "900" }));
    await env.DB.prepare("INSERT INTO loops (channel_id, prompt) VALUES (?, 'p')").bind(ch.id).run();
    const loop = await env.DB.prepare("SELECT max(id) AS id FROM loops").first<{ id: number }>();
    await insertRun({ channelId: ch.id, trigger: "discord", prompt: "p", loopId: loop!.id, iteration: 1 });
    await expectUniqueViolation(insertRun({ channelId: ch.id, trigger: "discord", prompt: "p", loopId: loop!.id, iteration: 1 }));
    const dir = uniqueDir("unique");
    await store().insert(channels).values({ id: `ch_u1_${crypto.randomUUID()}`, name: "a", dirPath: dir });
    await expectUniqueViolation(store().insert(channels).values({ id: `ch_u2_${crypto.randomUUID()}`, name: "b", dirPath: dir }));
    // Rows without the column (most runs, threads' channels) are not in the index at all.
    await insertRun({ channelId: ch.id, trigger: "api", prompt: "p" });
    await insertRun({ channelId: ch.id, trigger: "api", prompt: "p" });
    await insertDiscordChannel("thread-a");
    await insertDiscordChannel("thread-b");
  });
});

describe("rows written by a run's life", () => {
  // D1 counts each table row and each index entry written (local workerd counts them the same
  // way). These are the figures bench/cost adds up; a new index on runs shows up here first.
  it("a scheduled run: insert 5, start 2, finish 3 besides spend_days", async () => {
    const ch = await createChannel();
    const task = await createTask(ch.id);
    const now = Date.now();
    // row, sqlite_sequence, runs_task_occurrence, runs_channel_created, runs_status
    const insert = env.DB.prepare(
      `INSERT INTO runs (task_id, channel_id, trigger, status, prompt, scheduled_for, fired_by, created_at)
       VALUES (?1, ?2, 'schedule', 'queued', 'p', ?3, 'alarm', ?3) RETURNING id`,
    ).bind(task.id, ch.id, now);
    const { results, meta } = await insert.all<{ id: number }>();
    expect(meta.rows_written).toBe(5);
    const id = results[0]!.id;
    // the row, its new runs_status entry (removing the old one is not counted)
    expect(await rowsWritten(env.DB.prepare("UPDATE runs SET status = 'running', started_at = ?2, attempt = 1, runner_id = 'rnr_x' WHERE id = ?1 AND status = 'queued'").bind(id, now))).toBe(2);
    // the row, runs_finished, runs_channel_finished (it leaves runs_status); the spend_days triggers upsert 2 more
    const finish = env.DB.prepare("UPDATE runs SET status = 'succeeded', finished_at = ?2, cost_usd = 0.01 WHERE id = ?1 AND status = 'running'").bind(id, now);
    const spendRowsBefore = await env.DB.prepare("SELECT count(*) AS n FROM spend_days").first<{ n: number }>();
    const written = await rowsWritten(finish);
    const spendRowsAfter = await env.DB.prepare("SELECT count(*) AS n FROM spend_days").first<{ n: number }>();
    // An upsert that inserts a spend_days row also writes its primary key's index entry.
    expect(written).toBe(3 + 2 + (spendRowsAfter!.n - spendRowsBefore!.n));
  });

  it("an ad-hoc run's insert writes no occurrence entry", async () => {
    const ch = await createChannel();
    // row, sqlite_sequence, runs_channel_created, runs_status
    expect(await rowsWritten(env.DB.prepare("INSERT INTO runs (channel_id, trigger, status, prompt, created_at) VALUES (?1, 'api', 'queued', 'p', ?2)").bind(ch.id, Date.now()))).toBe(4);
  });
});
