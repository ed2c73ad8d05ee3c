/**
 * The agent image must exist before the first job, and must have `claude` on its PATH.
 * - Missing and it is the default (loop-agent): built from runner/image/ (as the original
 *   built it from the Dockerfile embedded in its binary); the build context goes to the
 *   Engine as a tar.
 * - Missing and it is any other image: pulled from its registry, with progress in the log.
 * - Then one short container (`/bin/sh -c 'command -v claude'`) checks the image can run
 *   an agent, so an image without claude is one clear error at start-up naming it, not a
 *   failed run later. The image needs nothing else from Loop: the runner mounts its own
 *   entrypoint (container-spec.ts).
 */
import { IMAGE_CONTEXT_DIR } from "./assets.ts";
import { DEFAULT_IMAGE } from "./config-file.ts";
import type { ContainerSpec, DockerDriver } from "./docker.ts";
import { errorText, type Logger } from "./log.ts";
import { UserError } from "./user-error.ts";

/** A pull reports at most this often in the human log (the JSON log gets every layer). */
const PULL_REPORT_EVERY_MS = 5_000;

/** "loop-agent", "loop-agent:latest", "docker.io/library/loop-agent:latest" are the default. */
export function isDefaultImage(tag: string): boolean {
  const name = tag.replace(/^(docker\.io\/)?(library\/)?/, "");
  return name === DEFAULT_IMAGE || `${name}:latest` === DEFAULT_IMAGE;
}

export interface EnsureImageOptions {
  /** Build from this folder when missing, whatever the tag (tests); default: only loop-agent, from runner/image. */
  contextDir?: string;
}

export async function ensureImage(docker: DockerDriver, tag: string, log: Logger, opts: EnsureImageOptions = {}): Promise<"present" | "built" | "pulled"> {
  if (await docker.imageExists(tag)) {
    log.debug("agent image present", { image: tag });
    return "present";
  }
  if (opts.contextDir || isDefaultImage(tag)) {
    await build(docker, tag, opts.contextDir ?? IMAGE_CONTEXT_DIR, log);
    return "built";
  }
  await pull(docker, tag, log);
  return "pulled";
}

async function build(docker: DockerDriver, tag: string, contextDir: string, log: Logger): Promise<void> {
  log.human(`image ${tag} not found: building it from ${contextDir} (first start only; this takes a few minutes)`);
  log.info("building agent image", { image: tag, context: contextDir });
  const started = Date.now();
  const tail: string[] = [];
  try {
    await docker.buildImage(contextDir, tag, (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      log.debug("image build", { line });
    });
  } catch (err) {
    log.error("agent image build failed", { image: tag, error: errorText(err), output_tail: tail.join("\n") });
    throw new UserError(
      `could not build the agent image ${tag} from ${contextDir}: ${errorText(err)}\n` +
        `  last build output:\n${tail.map((l) => `    ${l}`).join("\n")}\n` +
        `  build it by hand (docker build -t ${tag} ${contextDir}) or set container_image to an image you have.`,
    );
  }
  if (!(await docker.imageExists(tag))) throw new UserError(`the build of ${tag} finished but the image is not there`);
  log.human(`image ${tag} built in ${Math.round((Date.now() - started) / 1000)} s`);
  log.info("agent image built", { image: tag, ms: Date.now() - started });
}

async function pull(docker: DockerDriver, tag: string, log: Logger): Promise<void> {
  log.human(`image ${tag} not found locally: pulling it`);
  log.info("pulling agent image", { image: tag });
  const started = Date.now();
  const layers = new Map<string, { status: string; current: number; total: number }>();
  let reported = 0;
  try {
    await docker.pullImage(tag, (p) => {
      if (p.id) layers.set(p.id, { status: p.status, current: p.current ?? layers.get(p.id)?.current ?? 0, total: p.total ?? layers.get(p.id)?.total ?? 0 });
      log.debug("image pull", { image: tag, layer: p.id ?? null, status: p.status });
      if (Date.now() - reported < PULL_REPORT_EVERY_MS) return;
      reported = Date.now();
      const all = [...layers.values()];
      const done = all.filter((l) => /complete|exists/i.test(l.status)).length;
      const mb = (n: number) => Math.round(n / 1e6);
      const got = all.reduce((n, l) => n + l.current, 0);
      const size = all.reduce((n, l) => n + l.total, 0);
      log.human(`pulling ${tag}: ${done} of ${all.length} layers done${size ? `, ${mb(got)} of ${mb(size)} MB downloading` : ""}`);
    });
  } catch (err) {
    log.error("agent image pull failed", { image: tag, error: errorText(err) });
    throw new UserError(
      `could not pull the agent image ${tag}: ${errorText(err)}\n` +
        `  pull or build it by hand (docker pull ${tag}), or leave container_image unset to use Loop's own loop-agent image.`,
    );
  }
  if (!(await docker.imageExists(tag))) throw new UserError(`the pull of ${tag} finished but the image is not there`);
  log.human(`image ${tag} pulled in ${Math.round((Date.now() - started) / 1000)} s`);
  log.info("agent image pulled", { image: tag, ms: Date.now() - started });
}

/**
 * Runs `command -v claude` in the image (no network, no mounts, a few seconds at most).
 * Resolves with claude's path; throws a UserError naming the image when it is not there.
 */
export async function checkClaude(docker: DockerDriver, image: string, name: string, labels: Record<string, string>, log: Logger): Promise<string> {
  const spec: ContainerSpec = {
    name,
    image,
    entrypoint: ["/bin/sh", "-c"],
    cmd: ["command -v claude"],
    env: [],
    workingDir: "/",
    user: "",
    labels,
    binds: [],
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 500_000_000,
    pidsLimit: 32,
    network: "none",
    groupAdd: [],
  };
  let out = "";
  let exitCode: number;
  try {
    const c = await docker.run(spec, "");
    try {
      for await (const chunk of c.output) out += chunk.data.toString("utf8");
      exitCode = (await c.wait()).exitCode;
    } finally {
      await c.remove();
    }
  } catch (err) {
    throw new UserError(`image ${image} cannot run Loop's agent entrypoint (it needs /bin/sh): ${errorText(err)}`);
  }
  const path = out.trim().split("\n")[0] ?? "";
  if (exitCode !== 0 || !path) {
    throw new UserError(
      `image ${image} has no \`claude\` on its PATH: install Claude Code in it (npm install -g @anthropic-ai/claude-code) or set container_image to an image that has it`,
    );
  }
  log.debug("claude found in the agent image", { image, path });
  return path;
}
