/**
 * /runner/v1: the self-hosted runner's API (protocol/runner.ts). Runner tokens only; every
 * body is validated against the shared schema; a caller without the lease gets 409.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { RelayBatch, RelayLeaseRequest, type RelayBatchResult, type RelayLease } from "../../protocol/relay.ts";
import {
  AbandonRequest,
  ClaimRequest,
  Completion,
  EventBatch,
  HeartbeatRequest,
  MAX_RUNNER_BODY_BYTES,
  MonitorReport,
  WORKTREE_REMOVALS_HEADER,
  WorktreesRemoved,
  type AbandonResponse,
  type CompleteResponse,
  type EventBatchResponse,
  type HeartbeatResponse,
  type MonitorResponse,
  type WorktreeRemovals,
  type WorktreesRemovedResponse,
} from "../../protocol/runner.ts";
import { dispatcherOf, type RunnerIdentity } from "../../durable-objects/contracts.ts";
import { db } from "../../core/db/client.ts";
import { authenticateRunner } from "../../core/domain/runners.ts";
import { recordMonitor } from "../../core/loops/iterations.ts";
import { ackRemovals, hasPendingRemovals, pendingRemovals } from "../../core/domain/worktrees.ts";
import { handleBatch } from "../relay/messages.ts";
import { randomId } from "../../core/domain/secrets.ts";
import { config, type Env } from "../../core/env.ts";
import { AppError } from "../../core/errors.ts";
import { bearer } from "../http/auth.ts";
import { intParam, readBody } from "../http/validate.ts";

interface RunnerEnv {
  Bindings: Env;
  Variables: { runner: RunnerIdentity };
}

const leaseLost = (reason: string) => new AppError(409, "lease_lost", `You no longer hold this run's lease: ${reason}.`);

const runnerAuth = createMiddleware<RunnerEnv>(async function runnerAuth(c, next) {
  c.set("runner", await authenticateRunner(c.env.DB, bearer(c.req.header("authorization")), (p) => c.executionCtx.waitUntil(p)));
  await next();
});

/** The claim's labels must be among those the runner was registered with. */
function narrowLabels(runner: RunnerIdentity, labels: string[]): RunnerIdentity {
  const unknown = labels.filter((l) => !runner.labels.includes(l));
  if (unknown.length) {
    throw new AppError(422, "invalid_request", `labels: ${unknown.join(", ")} not registered for this runner (registered: ${runner.labels.join(", ") || "none"}).`, "labels");
  }
  return { ...runner, labels };
}

export const runnerRoutes = new Hono<RunnerEnv>()
  .use(
    bodyLimit({
      maxSize: MAX_RUNNER_BODY_BYTES,
      onError: () => {
        throw new AppError(413, "body_too_large", `Runner requests are limited to ${MAX_RUNNER_BODY_BYTES / 1024 / 1024} MiB; send smaller event batches.`);
      },
    }),
  )
  .use(runnerAuth)
  .post("/claim", async (c) => {
    const { wait_ms, labels } = await readBody(c, ClaimRequest);
    const runner = labels ? narrowLabels(c.var.runner, labels) : c.var.runner;
    const origin = config(c.env).publicUrl ?? new URL(c.req.url).origin;
    const claimId = randomId("claim_");
    const signal = c.req.raw.signal;
    const onAbort = () => c.executionCtx.waitUntil(dispatcherOf(c.env).abandon(claimId));
    signal.addEventListener("abort", onAbort, { once: true });
    const job = await dispatcherOf(c.env).claim(runner, wait_ms, origin, claimId).finally(() => signal.removeEventListener("abort", onAbort));
    if (job) return c.json(job);
    // Only on the empty answer: a job's answer must not wait for D1, and the next claim asks.
    if (await hasPendingRemovals(db(c.env.DB), runner.id)) c.header(WORKTREE_REMOVALS_HEADER, "1");
    return c.body(null, 204);
  })
  .post("/runs/:id/heartbeat", async (c) => {
    const runId = intParam(c, "id", "run");
    const { lease_id } = await readBody(c, HeartbeatRequest);
    const check = await dispatcherOf(c.env).heartbeat(c.var.runner.id, runId, lease_id);
    if (!check.ok) throw leaseLost(check.reason);
    return c.json({ cancel: check.cancel, lease_expires_at: check.leaseExpiresAt } satisfies HeartbeatResponse);
  })
  .post("/runs/:id/events", async (c) => {
    const runId = intParam(c, "id", "run");
    const batch = await readBody(c, EventBatch);
    // An event batch is proof of life too: the Dispatcher extends the lease like a heartbeat,
    // then stores the events and hands them to the channel's watchers.
    const result = await dispatcherOf(c.env).events(c.var.runner.id, runId, batch.lease_id, batch.events);
    if (!result.ok) throw leaseLost(result.reason);
    return c.json({ accepted: result.accepted, cancel: result.cancel } satisfies EventBatchResponse);
  })
  .post("/runs/:id/monitor", async (c) => {
    const runId = intParam(c, "id", "run");
    const report = await readBody(c, MonitorReport);
    const check = await dispatcherOf(c.env).heartbeat(c.var.runner.id, runId, report.lease_id);
    if (!check.ok) throw leaseLost(check.reason);
    const prompt = await recordMonitor(db(c.env.DB), runId, report, Date.now());
    if (prompt === null) throw new AppError(409, "not_a_loop_iteration", `Run ${runId} is not a running loop iteration with a monitor command.`);
    return c.json({ prompt } satisfies MonitorResponse);
  })
  .post("/runs/:id/complete", async (c) => {
    const runId = intParam(c, "id", "run");
    const completion = await readBody(c, Completion);
    // Its last events come with it; the Dispatcher stores them under the lease check (a
    // retried completion is a duplicate there, and its events were stored the first time).
    const result = await dispatcherOf(c.env).complete(c.var.runner.id, runId, completion);
    if (!result.ok) throw leaseLost(result.reason);
    return c.json({ ok: true, duplicate: result.duplicate } satisfies CompleteResponse);
  })
  .post("/runs/:id/abandon", async (c) => {
    const runId = intParam(c, "id", "run");
    const { lease_id, reason } = await readBody(c, AbandonRequest);
    const result = await dispatcherOf(c.env).handBack(c.var.runner.id, runId, lease_id, reason);
    if (!result.ok) throw leaseLost(result.reason);
    return c.json({ outcome: result.outcome, attempt: result.attempt } satisfies AbandonResponse);
  })
  .post("/worktrees/removals", async (c) => c.json({ removals: await pendingRemovals(db(c.env.DB), c.var.runner.id) } satisfies WorktreeRemovals))
  .post("/worktrees/removed", async (c) => {
    const { task_ids } = await readBody(c, WorktreesRemoved);
    return c.json({ forgotten: await ackRemovals(db(c.env.DB), c.var.runner.id, task_ids) } satisfies WorktreesRemovedResponse);
  });

/** The conversation relay (protocol/relay.ts): its lease, and the messages it forwards. */
runnerRoutes
  .post("/relay/lease", async (c) => {
    const { instance, dm_dir } = await readBody(c, RelayLeaseRequest);
    const r = await dispatcherOf(c.env).relayAcquire({ runnerId: c.var.runner.id, runnerName: c.var.runner.name ?? null, instance, dmDir: dm_dir });
    return c.json({ granted: r.granted, ttl_ms: r.ttlMs, holder: r.holder } satisfies RelayLease);
  })
  .post("/relay/release", async (c) => {
    const { instance } = await readBody(c, RelayLeaseRequest);
    await dispatcherOf(c.env).relayRelease(c.var.runner.id, instance);
    const holder = await dispatcherOf(c.env).relayHolder();
    return c.json({ granted: false, ttl_ms: 0, holder } satisfies RelayLease);
  })
  .post("/discord/messages", async (c) => {
    const batch = await readBody(c, RelayBatch);
    // Only the lease holder relays; a batch renews its lease, like events renew a run's.
    const lease = await dispatcherOf(c.env).relayRenew(c.var.runner.id, batch.instance);
    if (!lease.held) throw new AppError(409, "relay_lease_lost", "This runner does not hold the relay lease: another runner relays Discord now.");
    const result = await handleBatch({ db: db(c.env.DB), env: c.env, cfg: config(c.env), dmDir: lease.dmDir, waitUntil: (p) => c.executionCtx.waitUntil(p) }, batch);
    return c.json(result satisfies RelayBatchResult);
  });
