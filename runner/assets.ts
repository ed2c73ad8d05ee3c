/**
 * Files the runner ships beside its code: the agent image's build context and the commented
 * example config. Found from the package root, so the paths hold both when running from
 * source (runner/*.ts) and from the production bundle (dist/loop.mjs).
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

function packageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "runner/image/Dockerfile"))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find Loop's runner/ folder above ${from}`);
  }
}

const ROOT = packageRoot(import.meta.dirname);

export const IMAGE_CONTEXT_DIR = join(ROOT, "runner/image");
export const HOOK_PRELUDE = join(ROOT, "runner/hook/permission-hook.sh");
/** Bind-mounted read-only into every agent container as its entrypoint (any image works). */
export const ENTRYPOINT_FILE = join(IMAGE_CONTEXT_DIR, "entrypoint.sh");
export const EXAMPLE_CONFIG = join(ROOT, "runner/config.example.jsonc");
