/**
 * A loop iteration's monitor command (docs/loops.md): one short-lived container from the
 * agent's image (buildMonitorSpec: same project mounts and network, no credentials), its
 * stdout and stderr kept as they interleave, the tail of it reported to the Worker. A
 * command that outlives its timeout, or a job that is stopped meanwhile, is killed and
 * reported without an exit code. The container is always removed.
 */
import { MAX_MONITOR_OUTPUT_CHARS } from "../protocol/runner.ts";
import type { ContainerSpec, DockerDriver } from "./docker.ts";
import { errorText, type Logger } from "./log.ts";

export interface MonitorResult {
  output: string;
  exitCode: number | null;
  durationMs: number;
}

/** Bytes kept while reading: enough for MAX_MONITOR_OUTPUT_CHARS characters of any UTF-8. */
const KEEP_BYTES = MAX_MONITOR_OUTPUT_CHARS * 4;

export async function runMonitor(docker: DockerDriver, spec: ContainerSpec, timeoutSec: number, stop: AbortSignal, log: Logger): Promise<MonitorResult> {
  const started = Date.now();
  const chunks: Buffer[] = [];
  let bytes = 0;
  const keep = (data: Buffer) => {
    chunks.push(data);
    bytes += data.length;
    while (chunks.length > 1 && bytes - chunks[0]!.length >= KEEP_BYTES) bytes -= chunks.shift()!.length;
  };
  let container;
  try {
    container = await docker.run(spec, "");
  } catch (err) {
    return { output: `loop: the monitor container did not start: ${errorText(err)}`, exitCode: null, durationMs: Date.now() - started };
  }
  let killedFor: "timeout" | "stop" | null = null;
  const kill = (why: "timeout" | "stop") => {
    killedFor ??= why;
    container.kill("SIGKILL").catch((err) => log.warn("could not kill the monitor container", { container: spec.name, error: errorText(err) }));
  };
  const timer = setTimeout(() => kill("timeout"), timeoutSec * 1000);
  const onStop = () => kill("stop");
  if (stop.aborted) onStop();
  else stop.addEventListener("abort", onStop, { once: true });
  try {
    const reading = (async () => {
      for await (const chunk of container.output) keep(chunk.data);
    })().catch((err) => log.warn("monitor output ended with an error", { container: spec.name, error: errorText(err) }));
    const exit = await container.wait();
    await Promise.race([reading, new Promise((r) => setTimeout(r, 2_000))]);
    let output = Buffer.concat(chunks).toString("utf8");
    if (killedFor === "timeout") output += `\nloop: the monitor command was killed after ${timeoutSec} s`;
    if (output.length > MAX_MONITOR_OUTPUT_CHARS) output = output.slice(output.length - MAX_MONITOR_OUTPUT_CHARS);
    return { output, exitCode: killedFor ? null : exit.exitCode, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    stop.removeEventListener("abort", onStop);
    await container.remove().catch((err) => log.warn("could not remove the monitor container", { container: spec.name, error: errorText(err) }));
  }
}
