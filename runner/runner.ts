/**
 * The runner daemon, assembled: checks Docker, ensures the agent image, removes what a
 * crashed predecessor left (its containers, whose leases it hands back, and its private run
 * dirs), then claims jobs until stopped. stop() stops claiming, lets running jobs finish
 * within the grace period, then stops their containers and hands their leases back.
 * `loop runner` is a thin shell over it.
 */
import { createHash } from "node:crypto";
import { mkdirSync, rmSync } from "node:fs";
import pkg from "../package.json" with { type: "json" };
import { claimLoop } from "./claim-loop.ts";
import { unknownKeysNotice } from "./config-file.ts";
import type { RunnerConfig } from "./config.ts";
import { dockerodeDriver, type DockerDriver } from "./docker.ts";
import { checkClaude, ensureImage } from "./image.ts";
import { recoverOrphans } from "./recovery.ts";
import { runJob } from "./job.ts";
import { createLogger, errorText, type Logger } from "./log.ts";
import { UserError } from "./user-error.ts";
import type { PostJson } from "./http-post.ts";
import type { RelayHandle } from "./relay/relay.ts";
import { WorkerClient } from "./worker-client.ts";
import { containerIdentity, runsDir } from "./workspace.ts";
import { hostGit } from "./worktree.ts";
import { Nudge, worktreeRemovalLoop } from "./worktree-removals.ts";

export const RUNNER_VERSION: string = pkg.version;

export interface RunnerDeps {
  docker?: DockerDriver;
  log?: Logger;
  /** The HTTP transport to the Worker (default node:http with keep-alive). */
  post?: PostJson;
  /** The folder the agent image is built from when missing (default runner/image). */
  imageContextDir?: string;
  /** Long-poll wait per claim (default the protocol's maximum). */
  claimWaitMs?: number;
  /** SIGINT → SIGKILL grace when stopping a container. */
  killGraceMs?: number;
  /** How long a job's first request under its lease waits (default FIRST_CONTACT_MS). */
  firstContactMs?: number;
  /** How often to ask for worktrees of deleted tasks (default WORKTREE_REMOVAL_POLL_MS). */
  worktreeRemovalPollMs?: number;
}

export interface RunnerHandle {
  /** Identifies this runner's containers (label loop.runner, part of their names). */
  runnerKey: string;
  /** The conversation relay, when `discord_gateway` is on. */
  relay: RelayHandle | null;
  /** Run ids of the jobs running now. */
  activeRuns(): number[];
  /**
   * Stops claiming, waits up to graceMs (default shutdown_grace_sec) for running jobs, then
   * stops them and hands their leases back (the Worker re-queues them for another
   * attempt). Calling it again with a shorter grace cuts the wait short.
   */
  stop(opts?: { graceMs?: number }): Promise<void>;
  /** Settles when the runner has stopped; rejects if it had to give up (bad token). */
  done: Promise<void>;
}

/** Stable per Worker and token, so a restarted runner recognises its own leftovers. */
export const runnerKeyFor = (config: Pick<RunnerConfig, "workerUrl" | "runnerToken">): string =>
  createHash("sha256").update(`${config.workerUrl}\n${config.runnerToken}`).digest("hex").slice(0, 12);

/** Loaded only when configured: a runner without the relay never loads the Gateway client. */
async function startRelayLazily(discord: NonNullable<RunnerConfig["discord"]>, client: WorkerClient, log: Logger): Promise<RelayHandle> {
  const { startRelay } = await import("./relay/relay.ts");
  return startRelay({ client, log, token: discord.token, apiBase: discord.apiBase, dmDir: discord.dmDir });
}

export async function startRunner(config: RunnerConfig, deps: RunnerDeps = {}): Promise<RunnerHandle> {
  const log = deps.log ?? createLogger({ level: config.logLevel });
  const docker = deps.docker ?? dockerodeDriver();
  const runnerKey = runnerKeyFor(config);
  if (config.unknownKeys.length) {
    log.warn("unknown config keys ignored", { keys: config.unknownKeys });
    log.human(unknownKeysNotice(config.unknownKeys));
  }

  try {
    await docker.ping();
  } catch (err) {
    throw new UserError(`cannot reach the Docker Engine (${errorText(err)}): is Docker running, and may this user use it?`);
  }
  await ensureImage(docker, config.image, log, deps.imageContextDir ? { contextDir: deps.imageContextDir } : {});
  // Its own label, not loop.runner: orphan recovery reads runs from those containers.
  await checkClaude(docker, config.image, `loop-${runnerKey}-check`, { "loop.check": runnerKey }, log);

  const removalNudge = new Nudge();
  const client = new WorkerClient({
    url: config.workerUrl,
    token: config.runnerToken,
    runnerVersion: RUNNER_VERSION,
    labels: config.labels,
    onWorktreeRemovals: () => removalNudge.poke(),
    ...(deps.post ? { post: deps.post } : {}),
  });
  // A crashed predecessor's runs: stop their containers, then give their leases back so
  // the Worker re-queues them now rather than after the lease TTL.
  await recoverOrphans({ docker, client, runnerKey, log });

  // Private run dirs hold run tokens: none of them may outlive a crash.
  try {
    rmSync(runsDir(config.stateDir), { recursive: true, force: true });
    mkdirSync(runsDir(config.stateDir), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new UserError(`state_dir ${config.stateDir} is not usable: ${errorText(err)}`);
  }

  const claiming = new AbortController();
  const shutdown = new AbortController();
  const active = new Map<number, Promise<unknown>>();
  const identity = containerIdentity();

  log.info("runner started", {
    version: RUNNER_VERSION,
    worker_url: config.workerUrl,
    runner_key: runnerKey,
    image: config.image,
    concurrency: config.concurrency,
    network: config.network,
    state_dir: config.stateDir,
    container_user: `${identity.uid}:${identity.gid}`,
    labels: config.labels,
  });
  log.human(`loop runner ${RUNNER_VERSION} for ${config.workerUrl}: image ${config.image}, ${config.concurrency} slot(s), network ${config.network}`);

  // The conversation relay runs beside the claim loop; nothing it does can stop job work.
  const relay = config.discord ? await startRelayLazily(config.discord, client, log) : null;

  const loop = claimLoop({
    client,
    concurrency: config.concurrency,
    log,
    signal: claiming.signal,
    ...(deps.claimWaitMs !== undefined ? { waitMs: deps.claimWaitMs } : {}),
    start(job) {
      const tuning = {
        ...(deps.killGraceMs !== undefined ? { killGraceMs: deps.killGraceMs } : {}),
        ...(deps.firstContactMs !== undefined ? { firstContactMs: deps.firstContactMs } : {}),
      };
      const p = runJob(job, { config, client, docker, log, runnerKey, identity, shutdown: shutdown.signal, ...tuning }).finally(() =>
        active.delete(job.run_id),
      );
      active.set(job.run_id, p);
      return p;
    },
  });

  const removals = worktreeRemovalLoop({
    client,
    git: hostGit(identity),
    log,
    signal: claiming.signal,
    nudge: removalNudge,
    ...(deps.worktreeRemovalPollMs !== undefined ? { intervalMs: deps.worktreeRemovalPollMs } : {}),
  });

  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let stopped: Promise<void> | undefined;
  let loopError: unknown;
  const finished = loop.catch((err) => {
    loopError = err;
    log.error("runner stopped", { error: errorText(err) });
  });

  async function stop(opts: { graceMs?: number } = {}): Promise<void> {
    const graceMs = opts.graceMs ?? config.shutdownGraceSec * 1000;
    claiming.abort();
    clearTimeout(graceTimer);
    if (active.size && graceMs > 0 && !shutdown.signal.aborted)
      log.human(`stopping: no new jobs; waiting up to ${Math.round(graceMs / 1000)} s for ${active.size} running job(s), then handing them back`);
    graceTimer = setTimeout(() => {
      if (active.size) log.human(`stopping ${active.size} running job(s) and handing them back to the Worker`);
      shutdown.abort();
    }, graceMs);
    stopped ??= (async () => {
      await relay?.stop();
      await finished;
      await removals;
      while (active.size) await Promise.allSettled([...active.values()]);
      clearTimeout(graceTimer);
      log.info("runner stopped", {});
      log.human("runner stopped");
    })();
    return stopped;
  }

  // A fatal loop error (bad token) stops the runner by itself.
  const done = finished.then(async () => {
    if (loopError) await stop({ graceMs: 0 });
    else await (stopped ?? stop());
    if (loopError) throw loopError;
  });
  done.catch(() => {}); // the caller may only await stop(); the rejection is still observable via done

  return { runnerKey, relay, activeRuns: () => [...active.keys()], stop, done };
}
