/**
 * The agent image must exist before the first job. When it is missing the runner builds it
 * from the Dockerfile and entrypoint shipped in runner/image/ (like the original, which
 * embedded them in its binary); the build context goes to the Engine as a tar.
 */
import { IMAGE_CONTEXT_DIR } from "./assets.ts";
import type { DockerDriver } from "./docker.ts";
import { errorText, type Logger } from "./log.ts";
import { UserError } from "./user-error.ts";


export async function ensureImage(docker: DockerDriver, tag: string, log: Logger, contextDir = IMAGE_CONTEXT_DIR): Promise<"present" | "built"> {
  if (await docker.imageExists(tag)) {
    log.debug("agent image present", { image: tag });
    return "present";
  }
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
  return "built";
}
