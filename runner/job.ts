/**
 * One leased job from claim to completion: heartbeats and event uploads run beside the
 * agent; a cancel (from either answer) stops the container and completes the run as
 * cancelled; the runner's shutdown stops the container and hands the lease back, so the
 * Worker re-queues the run at once; a lost lease (409) stops the container and drops the
 * job without reporting, since the run now belongs to another attempt. Setup problems the user
 * can fix (missing workdir, bad .loop/config.json) fail the run with that message.
 */
import type { Job, WireEvent } from "../protocol/runner.ts";
import { runAgent, sessionWasMissing, type AgentOutcome, type StopKind } from "./agent.ts";
import { Backoff, sleep } from "./backoff.ts";
import type { RunnerConfig } from "./config.ts";
import { buildContainerSpec, buildMonitorSpec, CONTAINER_RUN_DIR, type RunPlace } from "./container-spec.ts";
import { runMonitor } from "./monitor.ts";
import type { DockerDriver } from "./docker.ts";
import { EventUploader } from "./event-uploader.ts";
import { HAND_BACK_WINDOW_MS, handBack } from "./hand-back.ts";
import { startHeartbeats } from "./heartbeat.ts";
import { firstContactDelay, LeaseContact } from "./lease-contact.ts";
import { errorText, type Logger } from "./log.ts";
import { effectiveLimits } from "./limits.ts";
import { decide, type Decision } from "./outcome.ts";
import { loadProjectConfig, mergeSettings, PROJECT_CONFIG_PATH } from "./project-config.ts";
import { readLedger, runUsage, writeLedger } from "./usage-ledger.ts";
import { UserError } from "./user-error.ts";
import { WorkerError, type WorkerClient } from "./worker-client.ts";
import { hostGit, prepareWorktree } from "./worktree.ts";
import { ENTRYPOINT_FILE } from "./assets.ts";
import { channelDir, covers, prepareHomeDir, writePasswd, prepareClaudeDir, stateKey, removeRunDir, resolveBinds, resolveWorkdir, SetupError, writeRunDir, type Identity } from "./workspace.ts";

export interface JobContext {
  config: RunnerConfig;
  client: WorkerClient;
  docker: DockerDriver;
  log: Logger;
  runnerKey: string;
  identity: Identity;
  /** Aborted when the runner stops waiting for running jobs at shutdown. */
  shutdown: AbortSignal;
  killGraceMs?: number;
  /** How long the first request under a lease waits (default FIRST_CONTACT_MS; tests). */
  firstContactMs?: number;
}

export interface JobEnd {
  status: Decision["status"] | "lease_lost" | "handed_back";
}

const preview = (s: string) => {
  const line = s.trim().split("\n")[0] ?? "";
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line);
};

export async function runJob(job: Job, ctx: JobContext): Promise<JobEnd> {
  const started = Date.now();
  const { log } = ctx;
  const fields = { run_id: job.run_id, channel_id: job.channel_id, attempt: job.attempt };
  log.info("job started", { ...fields, workdir: job.workdir, resume: job.session_id, lease_ttl_ms: job.lease_ttl_ms });
  log.human(`run ${job.run_id} started (channel ${job.channel_id}, attempt ${job.attempt}${job.session_id ? ", resuming its session" : ""}): ${preview(job.prompt)}`);

  const halt = new AbortController();
  let stoppedBy: StopKind | null = null;
  let leaseLost = false;
  let completing = false;
  const stop = (kind: StopKind, why?: WorkerError) => {
    if (kind === "lease_lost") {
      leaseLost = true;
      if (completing) return;
      log.warn("lease lost: stopping the job", { ...fields, error: why?.message });
    }
    if (stoppedBy) return;
    stoppedBy = kind;
    if (kind !== "lease_lost") log.info(kind === "cancel" ? "cancel requested: stopping the container" : "runner shutting down: stopping the container", fields);
    halt.abort(kind);
  };
  // Batches, heartbeats and the completion all extend the lease: none is sent when another
  // just was, and the first of them, not before the first contact is due, acknowledges it.
  const contact = new LeaseContact(started + firstContactDelay(job.lease_ttl_ms, ctx.firstContactMs));
  const uploader = new EventUploader({ client: ctx.client, job, log, contact, onCancel: () => stop("cancel"), onLeaseLost: (e) => stop("lease_lost", e) });
  const beats = startHeartbeats({
    client: ctx.client,
    job,
    log,
    contact,
    eventsWaiting: () => uploader.pending > 0,
    onCancel: () => stop("cancel"),
    onLeaseLost: (e) => stop("lease_lost", e),
  });
  const onShutdown = () => stop("shutdown");
  ctx.shutdown.addEventListener("abort", onShutdown, { once: true });
  if (ctx.shutdown.aborted) onShutdown();

  let decision: Decision;
  try {
    decision = await execute(job, ctx, { uploader, contact, halt: halt.signal, stoppedBy: () => stoppedBy, started });
  } catch (err) {
    const userFacing = err instanceof SetupError || err instanceof UserError;
    if (!userFacing) log.error("job failed inside the runner", { ...fields, error: errorText(err), stack: err instanceof Error ? err.stack : undefined });
    decision = { status: "failed", error: userFacing ? errorText(err) : `runner error: ${errorText(err)}`, duration_ms: Date.now() - started };
  } finally {
    ctx.shutdown.removeEventListener("abort", onShutdown);
  }

  try {
    if (leaseLost) {
      log.human(`run ${job.run_id} dropped: this runner lost its lease (the Worker gave the run to another attempt or ended it)`);
      return { status: "lease_lost" };
    }
    if (stoppedBy === "shutdown") return await giveBack(job, ctx, uploader);
    // The last events ride on the completion: one request fewer per run.
    const rest = await uploader.takeRest(AbortSignal.timeout(reportWindowMs(job)));
    if (rest === null && !leaseLost) log.error("could not deliver all events before completing", { ...fields, pending: uploader.pending });
    if (leaseLost) return { status: "lease_lost" };
    completing = true;
    log.debug("completing", { ...fields, events_before: uploader.delivered, events_with_completion: rest?.length ?? 0 });
    const reported = await complete(job, decision, rest ?? [], ctx, contact);
    if (reported) uploader.markDelivered(rest ?? []);
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    const usage = decision.usage ? `, ${decision.usage.input_tokens} in / ${decision.usage.output_tokens} out tokens` : "";
    const cost = decision.cost_usd != null ? `, $${decision.cost_usd.toFixed(4)}` : "";
    const unreported = reported ? "" : " (the Worker could not be told; it will end the run when the lease runs out)";
    log.human(`run ${job.run_id} ${decision.status} in ${secs} s${usage}${cost}${decision.error ? `: ${decision.error.split("\n")[0]}` : ""}${unreported}`);
    log.info("job finished", { ...fields, status: decision.status, reported, ms: Date.now() - started, events: uploader.delivered, error: decision.error ?? null });
    return { status: decision.status };
  } finally {
    beats.stop();
    uploader.close();
  }
}

/**
 * The runner is stopping and this run could not finish: its events so far go out (briefly:
 * the runner is on its way down), then the lease goes back and the Worker re-queues the run.
 */
async function giveBack(job: Job, ctx: JobContext, uploader: EventUploader): Promise<JobEnd> {
  await uploader.drain(AbortSignal.timeout(HAND_BACK_WINDOW_MS));
  const back = await handBack(ctx.client, { runId: job.run_id, leaseId: job.lease_id }, "shutdown", ctx.log);
  const what =
    back.outcome === "requeued"
      ? `handed back to the Worker for attempt ${back.attempt}`
      : back.outcome === "ended"
        ? "handed back to the Worker; it had no attempts left, so it ended"
        : back.outcome === "gone"
          ? "stopped; its lease had already ended"
          : "stopped; the Worker could not be told, so it re-queues the run when the lease runs out";
  ctx.log.human(`run ${job.run_id} ${what} (the runner is shutting down)`);
  return { status: "handed_back" };
}

/** How long a finished job keeps trying to report: past a few lease TTLs the run is gone anyway. */
const reportWindowMs = (job: Pick<Job, "lease_ttl_ms">) => Math.max(3 * job.lease_ttl_ms, 120_000);

interface ExecState {
  uploader: EventUploader;
  contact: LeaseContact;
  halt: AbortSignal;
  stoppedBy: () => StopKind | null;
  started: number;
}

async function execute(job: Job, ctx: JobContext, s: ExecState): Promise<Decision> {
  const { config, log } = ctx;
  const fields = { run_id: job.run_id, channel_id: job.channel_id };
  // (A shutdown never reports this decision: runJob hands the lease back instead.)
  if (s.halt.aborted) return { status: "cancelled", error: "cancelled before it started" };

  const projectDir = resolveWorkdir(config, job, ctx.identity);
  let workdir = projectDir;
  let projectMounts = [projectDir];
  if (job.worktree) {
    const wt = await prepareWorktree(projectDir, job.worktree, hostGit(ctx.identity));
    log.info(wt.created ? "worktree created" : "worktree reused", { ...fields, task_id: job.worktree.task_id, worktree: wt.worktree });
    for (const message of wt.notices) {
      log.warn(message, fields);
      s.uploader.push({ type: "notice", message });
    }
    workdir = wt.workdir;
    projectMounts = [wt.worktree, wt.gitCommonDir];
  }
  // The project's settings are the directory's, whichever checkout the run works in.
  const project = loadProjectConfig(projectDir);
  if (project?.ignoredKeys.length) {
    const message = `${PROJECT_CONFIG_PATH}: ignored ${project.ignoredKeys.join(", ")} (a project may only set mounts, mcp and claude_model)`;
    log.warn(message, fields);
    s.uploader.push({ type: "notice", message });
  }
  const settings = mergeSettings(config, project, projectDir, job.model);
  const claudeDir = prepareClaudeDir(config.stateDir, stateKey(job), ctx.identity);
  const runDir = writeRunDir(config.stateDir, job, settings.mcpServers, ctx.identity, workdir);
  try {
    const { binds, groupAdd } = resolveBinds(settings.mounts, [...projectMounts, claudeDir, CONTAINER_RUN_DIR], config.home, log, fields);
    const limits = effectiveLimits(job, config);
    const timeoutSec = limits.timeoutSec;
    const deadline = s.started + timeoutSec * 1000;
    // HOME is the runner user's home path, where `~` in mounts lands (issue 16), backed by
    // the channel's own writable home unless the project or a mount already is that path.
    const home = config.home;
    const taken = [...projectMounts, ...binds.map((b) => b.split(":")[1]!)];
    const homeDir = taken.some((d) => covers(d, home)) ? null : prepareHomeDir(config.stateDir, stateKey(job), ctx.identity);
    const user = `${ctx.identity.uid}:${ctx.identity.gid}`;
    const passwdFile = writePasswd(runDir, ctx.identity, home);
    // One place for every container of the run: the monitor's sees what the agent's does.
    const place: RunPlace = { workdir, projectMounts, binds, groupAdd, user, home, homeDir, passwdFile };
    const prompt = job.monitor ? await monitorThenPrompt(job, ctx, s, place) : job.prompt;
    const attempt = (resume: string | null): Promise<AgentOutcome> =>
      runAgent({
        docker: ctx.docker,
        spec: buildContainerSpec({
          config,
          job,
          runnerKey: ctx.runnerKey,
          place,
          claudeDir,
          runDir,
          entrypointFile: ENTRYPOINT_FILE,
          model: settings.model,
          resume,
          maxTurns: limits.maxTurns,
          maxBudgetUsd: limits.maxBudgetUsd,
          policy: job.policy,
        }),
        credentials: config.credentials,
        // Resuming after a decision: no new prompt; the hook answers the held call.
        prompt: job.approval ? "" : prompt,
        deadline,
        stallMs: limits.stallTimeoutSec * 1000,
        onStall: () => {
          const message = `watchdog: no output for ${limits.stallTimeoutSec} s; stopping the agent`;
          log.warn(message, fields);
          s.uploader.push({ type: "notice", message });
        },
        stop: s.halt,
        onEvent: (e) => s.uploader.push(e),
        waitForRoom: () => s.uploader.waitForRoom(),
        log,
        ...(ctx.killGraceMs !== undefined ? { killGraceMs: ctx.killGraceMs } : {}),
      });

    let resume = job.session_id;
    let outcome = await attempt(resume);
    if (job.approval && resume && sessionWasMissing(outcome, resume)) {
      throw new SetupError(`session ${resume} no longer exists on this runner, so the approved call cannot be resumed; ask again`);
    }
    if (resume && !s.halt.aborted && sessionWasMissing(outcome, resume)) {
      const message = `session ${resume} no longer exists on this runner; started a new session`;
      log.warn(message, fields);
      s.uploader.push({ type: "notice", message });
      resume = null;
      outcome = await attempt(null);
    }

    const dir = channelDir(config.stateDir, stateKey(job));
    const usage = outcome.result ? runUsage(outcome.result, resume, readLedger(dir)) : { costUsd: null, usage: null };
    if (outcome.result) writeLedger(dir, outcome.result);
    const stoppedBy = s.stoppedBy();
    const decision = decide({ outcome, cancelled: stoppedBy === "cancel", timeoutSec, stallTimeoutSec: limits.stallTimeoutSec, memoryMb: config.memoryMb, usage, durationMs: Date.now() - s.started });
    // The watchdog's other half: an exit 0 that did nothing is said so in the run's events too.
    if (decision.status === "failed" && outcome.result && !outcome.result.isError) s.uploader.push({ type: "notice", message: `watchdog: ${decision.error}` });
    return decision;
  } finally {
    removeRunDir(runDir);
  }
}

/**
 * A loop iteration's monitor command runs first (docs/loops.md); its output goes to the
 * Worker, whose answer is the iteration's prompt built with it. Should the report fail,
 * the iteration still runs, with the prompt it was leased with (the previous output).
 */
async function monitorThenPrompt(job: Job, ctx: JobContext, s: ExecState, place: RunPlace): Promise<string> {
  const monitor = job.monitor!;
  const fields = { run_id: job.run_id, channel_id: job.channel_id };
  const spec = buildMonitorSpec({ config: ctx.config, job, runnerKey: ctx.runnerKey, command: monitor.command, place });
  const result = await runMonitor(ctx.docker, spec, monitor.timeout_sec, s.halt, ctx.log);
  ctx.log.info("monitor command ran", { ...fields, exit_code: result.exitCode, chars: result.output.length, ms: result.durationMs });
  if (s.halt.aborted) return job.prompt;
  try {
    // The Worker extends the lease on it, as on a heartbeat.
    const report = { lease_id: job.lease_id, output: result.output, exit_code: result.exitCode, duration_ms: result.durationMs };
    const answer = await s.contact.send(() => ctx.client.monitor(job.run_id, report, s.halt));
    return answer.prompt;
  } catch (err) {
    // A lost lease is the heartbeat's to notice (it stops the job); here only the prompt is at stake.
    const message = `the monitor's output could not be reported (${errorText(err)}); this iteration runs without it`;
    ctx.log.warn(message, fields);
    s.uploader.push({ type: "notice", message });
    return job.prompt;
  }
}

/**
 * Reports the end, retrying while the Worker is unreachable; a 409 means someone else owns it
 * now. A run that ends before its first contact is due acknowledges its lease with this.
 */
async function complete(job: Job, decision: Decision, events: WireEvent[], ctx: JobContext, contact: LeaseContact): Promise<boolean> {
  const window = AbortSignal.timeout(reportWindowMs(job));
  const backoff = new Backoff({ initialMs: 500, maxMs: 10_000 });
  const fields = { run_id: job.run_id, status: decision.status };
  for (;;) {
    try {
      const res = await contact.send(() => ctx.client.complete(job.run_id, { lease_id: job.lease_id, ...decision, events }));
      if (backoff.failures) ctx.log.info("completion delivered after retries", { ...fields, retries: backoff.failures });
      if (res.duplicate) ctx.log.debug("completion was a duplicate", fields);
      return true;
    } catch (err) {
      const retryable = err instanceof WorkerError && (err.retryable || err.kind === "auth");
      if (!retryable || window.aborted) {
        ctx.log.error("could not report the run's end", { ...fields, error: errorText(err) });
        return false;
      }
      const delay = backoff.next();
      ctx.log[backoff.failures === 1 ? "warn" : "debug"]("completion failed; retrying", { ...fields, retry_ms: delay, error: errorText(err) });
      await sleep(delay, window);
    }
  }
}
