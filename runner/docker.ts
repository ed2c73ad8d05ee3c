/**
 * Docker behind a small interface: everything the runner asks of the Engine, and one
 * implementation over dockerode (the Engine API; never the docker CLI). Tests of the loop
 * logic can pass a fake driver; the real one is exercised against a real daemon.
 */
import type DockerType from "dockerode";
import Docker from "dockerode";
import { readdirSync } from "node:fs";
import type { Readable } from "node:stream";

export interface ContainerSpec {
  name: string;
  image: string;
  /** Replaces the image's entrypoint (a loop's monitor command runs under /bin/sh -c). */
  entrypoint?: string[];
  cmd: string[];
  /** Non-secret only: `docker inspect` shows these. Secrets go through stdin. */
  env: string[];
  workingDir: string;
  user: string;
  labels: Record<string, string>;
  binds: string[];
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  network: string;
  groupAdd: string[];
}

/** One progress message of a pull: a layer id (absent for the whole image), its status, bytes. */
export interface PullProgress {
  id?: string;
  status: string;
  current?: number;
  total?: number;
}

export interface OutputChunk {
  stream: "stdout" | "stderr";
  data: Buffer;
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
}

export interface RunningContainer {
  id: string;
  /** Demultiplexed output. Not reading it holds the container's writes back (backpressure). */
  output: AsyncIterable<OutputChunk>;
  wait(): Promise<ExitInfo>;
  /** Sends a signal; a container that already stopped is not an error. */
  kill(signal: string): Promise<void>;
  /** Force-removes; a container that is already gone is not an error. */
  remove(): Promise<void>;
}

export interface RemovedContainer {
  name: string;
  labels: Record<string, string>;
}

export interface DockerDriver {
  ping(): Promise<void>;
  imageExists(tag: string): Promise<boolean>;
  /** Pulls `tag` from its registry; `onProgress` gets the Engine's progress messages. */
  pullImage(tag: string, onProgress: (p: PullProgress) => void): Promise<void>;
  /** Builds `tag` from a directory (sent as a tar); `onLine` gets the build output. */
  buildImage(contextDir: string, tag: string, onLine: (line: string) => void): Promise<void>;
  /** Creates, attaches, starts, writes `stdin` and closes it. */
  run(spec: ContainerSpec, stdin: string): Promise<RunningContainer>;
  /** Force-removes every container (running or not) carrying these labels; returns what it removed. */
  removeLabelled(labels: Record<string, string>): Promise<RemovedContainer[]>;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number })?.statusCode;

/** Docker's attach stream frames: 8-byte header (stream type, size), then the payload. */
async function* demux(stream: Readable): AsyncGenerator<OutputChunk> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      yield { stream: buf[0] === 2 ? "stderr" : "stdout", data: buf.subarray(8, 8 + size) };
      buf = buf.subarray(8 + size);
    }
  }
}

/** The Engine's create options for a spec: limits and the absence of privileges live here. */
export function containerCreateOptions(spec: ContainerSpec): DockerType.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
    Cmd: spec.cmd,
    Env: spec.env,
    WorkingDir: spec.workingDir,
    User: spec.user,
    Labels: spec.labels,
    OpenStdin: true,
    StdinOnce: true,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: false,
    HostConfig: {
      Binds: spec.binds,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes, // no swap on top: the limit is the limit
      NanoCpus: spec.nanoCpus,
      PidsLimit: spec.pidsLimit,
      NetworkMode: spec.network,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      GroupAdd: spec.groupAdd,
      // tini as PID 1: reaps the zombies agent tools leave and forwards our signals.
      Init: true,
    },
  };
}

export function dockerodeDriver(docker: DockerType = new Docker()): DockerDriver {
  async function create(spec: ContainerSpec): Promise<DockerType.Container> {
    const options = containerCreateOptions(spec);
    try {
      return await docker.createContainer(options);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      // Same name: a leftover of this run from an attempt whose lease we lost. It is stale.
      await docker.getContainer(spec.name).remove({ force: true }).catch(() => {});
      return docker.createContainer(options);
    }
  }

  return {
    async ping() {
      await docker.ping();
    },

    async imageExists(tag) {
      try {
        await docker.getImage(tag).inspect();
        return true;
      } catch (err) {
        if (statusOf(err) === 404) return false;
        throw err;
      }
    },

    async pullImage(tag, onProgress) {
      const stream = await docker.pull(tag);
      await followToEnd(docker, stream, (e: { id?: string; status?: string; progressDetail?: { current?: number; total?: number } }) => {
        if (e.status) onProgress({ ...(e.id ? { id: e.id } : {}), status: e.status, ...(e.progressDetail?.current !== undefined ? { current: e.progressDetail.current } : {}), ...(e.progressDetail?.total !== undefined ? { total: e.progressDetail.total } : {}) });
      });
    },

    async buildImage(contextDir, tag, onLine) {
      const stream = await docker.buildImage({ context: contextDir, src: readdirSync(contextDir) }, { t: tag, rm: true, forcerm: true });
      await followToEnd(docker, stream, (e: { stream?: string; status?: string }) => {
        const line = (e.stream ?? e.status ?? "").trimEnd();
        if (line) onLine(line);
      });
    },

    async run(spec, stdin) {
      const container = await create(spec);
      let stream: NodeJS.ReadWriteStream;
      try {
        // Attach before start so no early output is missed.
        stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as NodeJS.ReadWriteStream;
        await container.start();
        stream.write(stdin);
        stream.end(); // half-close: with StdinOnce the container sees EOF after the prompt
      } catch (err) {
        await container.remove({ force: true }).catch(() => {});
        throw err;
      }
      return {
        id: container.id,
        output: demux(stream as unknown as Readable),
        async wait() {
          const { StatusCode } = (await container.wait()) as { StatusCode: number };
          // The kernel's OOM killer sends SIGKILL (137); only then is the inspect worth its time.
          const info = StatusCode === 137 ? await container.inspect().catch(() => null) : null;
          return { exitCode: StatusCode, oomKilled: info?.State?.OOMKilled === true };
        },
        async kill(signal) {
          await container.kill({ signal }).catch((err: unknown) => {
            // 404: gone; 409: not running. Both mean there is nothing left to signal.
            if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
          });
        },
        async remove() {
          await container.remove({ force: true }).catch((err: unknown) => {
            if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
          });
        },
      };
    },

    async removeLabelled(labels) {
      const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
      const found = await docker.listContainers({ all: true, filters });
      const removed: RemovedContainer[] = [];
      for (const c of found) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch((err: unknown) => {
            if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
          });
        removed.push({ name: c.Names?.[0]?.replace(/^\//, "") ?? c.Id.slice(0, 12), labels: c.Labels ?? {} });
      }
      return removed;
    },
  };
}

/**
 * Reads a pull or build progress stream to its end. Docker reports a failed pull or build as
 * an error entry in the stream, not as a failed request, so the entries are checked too.
 */
function followToEnd<E>(docker: DockerType, stream: NodeJS.ReadableStream, onEvent: (e: E) => void): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(
      stream,
      (err: Error | null, out: Array<{ error?: string; errorDetail?: { message?: string } }>) => {
        const failed = out?.find((e) => e.error || e.errorDetail);
        if (err) reject(err);
        else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
        else resolve();
      },
      onEvent,
    ),
  );
}
