/**
 * Stopping a container the gentle way first. SIGINT makes the CLI end the turn and still
 * print a result with usage and cost and save the transcript, so the next --resume sees the
 * interruption (SIGTERM ends it without a result). SIGKILL follows after a grace period, or
 * at once for a hard stop (the lease is lost: the run already belongs to someone else).
 */
import type { RunningContainer } from "./docker.ts";
import { errorText, type Logger } from "./log.ts";

export const KILL_GRACE_MS = 10_000;

export class StopEscalation {
  #exited = false;
  #stopping: Promise<void> | null = null;

  readonly #container: RunningContainer;
  readonly #graceMs: number;
  readonly #log: Logger;
  readonly #fields: Record<string, unknown>;

  constructor(container: RunningContainer, graceMs: number, log: Logger, fields: Record<string, unknown>) {
    this.#container = container;
    this.#graceMs = graceMs;
    this.#log = log;
    this.#fields = fields;
  }

  /** The first call decides; later calls (a timeout after a cancel, say) join it. */
  stop(hard: boolean): void {
    this.#stopping ??= this.#escalate(hard);
  }

  /** The container is gone: stop polling for it, and send no further signal. */
  exited(): void {
    this.#exited = true;
  }

  /** Resolves once any stop in progress has done all it will do. */
  settled(): Promise<void> {
    return this.#stopping ?? Promise.resolve();
  }

  async #escalate(hard: boolean): Promise<void> {
    try {
      if (!hard) {
        await this.#container.kill("SIGINT");
        const until = Date.now() + this.#graceMs;
        while (!this.#exited && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      }
      if (!this.#exited) await this.#container.kill("SIGKILL");
    } catch (err) {
      this.#log.warn("could not stop container", { ...this.#fields, error: errorText(err) });
    }
  }
}
