/**
 * Reading one container's output: stdout is split into lines for the stream-json parser,
 * with back-pressure from the event buffer; stderr keeps only its tail for the error
 * message. It also keeps the two clocks the callers decide on: when any output last
 * arrived (the post-exit drain) and when stdout last did (the watchdog).
 */
import type { RunningContainer } from "./docker.ts";
import type { LineSplitter } from "./line-splitter.ts";
import { errorText, type Logger } from "./log.ts";

export const STDERR_TAIL_BYTES = 4_096;
/** After the container exits its output stream ends too; do not hang if Docker forgets to close it. */
export const OUTPUT_END_GRACE_MS = 5_000;

export class ContainerOutput {
  lastOutputAt = Date.now();
  lastStdoutAt = Date.now();
  /** True while stdout reading is paused for event-buffer room: progress, not silence. */
  waitingForRoom = false;
  #done = false;
  readonly #reading: Promise<void>;
  readonly #stderr: Buffer[] = [];
  #stderrBytes = 0;
  readonly #log: Logger;
  readonly #fields: Record<string, unknown>;

  constructor(container: RunningContainer, stdout: LineSplitter, waitForRoom: () => Promise<void>, log: Logger, fields: Record<string, unknown>) {
    this.#log = log;
    this.#fields = fields;
    this.#reading = (async () => {
      for await (const chunk of container.output) {
        this.lastOutputAt = Date.now();
        if (chunk.stream === "stdout") {
          this.lastStdoutAt = Date.now();
          stdout.push(chunk.data);
          this.waitingForRoom = true;
          await waitForRoom();
          this.waitingForRoom = false;
          this.lastOutputAt = this.lastStdoutAt = Date.now();
        } else this.#keepStderr(chunk.data);
      }
      stdout.end();
    })()
      .catch((err) => log.warn("container output ended with an error", { ...fields, error: errorText(err) }))
      .finally(() => (this.#done = true));
  }

  /**
   * Read to the end after the container exited. Waiting for buffer room is progress (events
   * must not be lost); only silence with no room to wait for counts against the grace.
   */
  async drain(graceMs = OUTPUT_END_GRACE_MS): Promise<void> {
    while (!this.#done) {
      await Promise.race([this.#reading, new Promise((r) => setTimeout(r, 250))]);
      if (!this.#done && !this.waitingForRoom && Date.now() - this.lastOutputAt > graceMs) {
        this.#log.warn("container output did not end after exit; going on without the rest", this.#fields);
        return;
      }
    }
  }

  stderrTail(): string {
    return Buffer.concat(this.#stderr).toString("utf8").slice(-STDERR_TAIL_BYTES).trim();
  }

  #keepStderr(data: Buffer): void {
    this.#stderr.push(data);
    this.#stderrBytes += data.length;
    while (this.#stderrBytes - this.#stderr[0]!.length > STDERR_TAIL_BYTES) this.#stderrBytes -= this.#stderr.shift()!.length;
  }
}
