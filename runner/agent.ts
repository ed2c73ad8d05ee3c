/**
 * One claude invocation in one container, start to removal: credentials and prompt go in
 * through stdin, stdout is parsed line by line into events as it arrives, the tail of
 * stderr is kept for the error message, and the container is stopped on a deadline or when
 * the job says so. The container is always removed before this returns.
 *
 * This module only wires the parts together: reading the output (container-output.ts),
 * stopping with escalation (stop-escalation.ts), and the post-exit drain.
 */
import type { RunEventData } from "../protocol/runner.ts";
import type { Credential } from "./config.ts";
import type { ContainerSpec, DockerDriver, RunningContainer } from "./docker.ts";
import { ContainerOutput } from "./container-output.ts";
import { LineSplitter } from "./line-splitter.ts";
import { errorText, type Logger } from "./log.ts";
import { KILL_GRACE_MS, StopEscalation } from "./stop-escalation.ts";
import { MAX_LINE_BYTES, StreamJsonParser, type ResultInfo } from "./stream-json.ts";

export type StopKind = "cancel" | "shutdown" | "lease_lost";

export interface AgentInput {
  docker: DockerDriver;
  spec: ContainerSpec;
  credentials: Credential[];
  prompt: string;
  /** Epoch ms after which the container is stopped as timed out. */
  deadline: number;
  /** The watchdog: stop the container when stdout has been silent this long. */
  stallMs?: number;
  /** Called once when the watchdog stops a silent run. */
  onStall?: () => void;
  /** Aborted with a StopKind as its reason when the job must end early. */
  stop: AbortSignal;
  onEvent: (data: RunEventData) => void;
  /** Resolves when the event buffer has room; output is not read meanwhile. */
  waitForRoom: () => Promise<void>;
  log: Logger;
  killGraceMs?: number;
}

export interface AgentOutcome {
  /** Null when the container never started (then `startError` says why). */
  exitCode: number | null;
  oomKilled: boolean;
  timedOut: boolean;
  /** The watchdog stopped it: no stdout for stallMs. */
  stalled: boolean;
  result: ResultInfo | null;
  sessionId: string | null;
  model: string | null;
  stderrTail: string;
  startError: string | null;
}

/** The entrypoint's protocol: KEY=VALUE lines, an empty line, then the prompt until EOF. */
export function stdinFor(credentials: Credential[], prompt: string): string {
  return `${credentials.map((c) => `${c.name}=${c.value}\n`).join("")}\n${prompt}`;
}

export async function runAgent(i: AgentInput): Promise<AgentOutcome> {
  const parser = new StreamJsonParser();
  const outcome: AgentOutcome = { exitCode: null, oomKilled: false, timedOut: false, stalled: false, result: null, sessionId: null, model: null, stderrTail: "", startError: null };
  const fields = { container: i.spec.name };
  const splitter = new LineSplitter(
    MAX_LINE_BYTES,
    (line) => {
      for (const e of parser.line(line)) i.onEvent(e);
    },
    (bytes) => i.onEvent({ type: "notice", message: `skipped an output line of ${bytes} bytes (longer than ${MAX_LINE_BYTES} bytes)` }),
  );

  let container: RunningContainer;
  try {
    container = await i.docker.run(i.spec, stdinFor(i.credentials, i.prompt));
  } catch (err) {
    outcome.startError = errorText(err);
    return outcome;
  }
  i.log.debug("container started", { ...fields, id: container.id.slice(0, 12) });

  const stopper = new StopEscalation(container, i.killGraceMs ?? KILL_GRACE_MS, i.log, fields);
  const output = new ContainerOutput(container, splitter, i.waitForRoom, i.log, fields);
  const onStop = () => stopper.stop(i.stop.reason === "lease_lost");
  if (i.stop.aborted) onStop();
  else i.stop.addEventListener("abort", onStop, { once: true });
  const timer = setTimeout(() => {
    outcome.timedOut = true;
    stopper.stop(false);
  }, Math.max(0, i.deadline - Date.now()));
  const watchdog = startWatchdog(i, output, () => {
    outcome.stalled = true;
    i.onStall?.();
    stopper.stop(false);
  });

  try {
    const exit = await container.wait();
    stopper.exited();
    watchdog?.stop(); // silence while draining is not a stall
    i.log.debug("container exited", { ...fields, exit_code: exit.exitCode, oom_killed: exit.oomKilled });
    outcome.exitCode = exit.exitCode;
    outcome.oomKilled = exit.oomKilled;
    await output.drain();
  } finally {
    stopper.exited();
    clearTimeout(timer);
    watchdog?.stop();
    i.stop.removeEventListener("abort", onStop);
    await stopper.settled();
    await container.remove().catch((err) => i.log.warn("could not remove container", { ...fields, error: errorText(err) }));
    i.log.debug("container removed", fields);
  }
  outcome.result = parser.result;
  outcome.sessionId = parser.result?.sessionId ?? parser.sessionId;
  outcome.model = parser.model;
  outcome.stderrTail = output.stderrTail();
  return outcome;
}

/**
 * The watchdog (issue 14): `claude -p` can hang at start-up printing nothing. Only stdout
 * (stream-json) counts as progress; time spent waiting for upload room does not count.
 * Fires at most once.
 */
function startWatchdog(i: AgentInput, output: ContainerOutput, onStall: () => void): { stop(): void } | null {
  const stallMs = i.stallMs ?? 0;
  if (stallMs <= 0) return null;
  const timer = setInterval(() => {
    if (output.waitingForRoom || Date.now() - output.lastStdoutAt < stallMs) return;
    clearInterval(timer);
    onStall();
  }, Math.min(1_000, Math.max(100, stallMs / 4)));
  return { stop: () => clearInterval(timer) };
}

/**
 * The CLI's answer to --resume of a session it does not have (measured: exit 1, one result
 * whose errors[] holds exactly this sentence, no API call). It has no error code, so the
 * exact sentence for the exact id we passed is the signal.
 */
export function sessionWasMissing(o: AgentOutcome, sessionId: string): boolean {
  const expected = `No conversation found with session ID: ${sessionId}`;
  return !!o.result?.errors.includes(expected) || o.stderrTail.split("\n").includes(expected);
}
