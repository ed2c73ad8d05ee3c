/**
 * dockerode, loaded without the transports the runner never uses. At require time dockerode
 * pulls in gRPC (for BuildKit sessions) and docker-modem pulls in ssh2 (for ssh:// hosts,
 * with a WebAssembly poly1305 that reserves 16 MB). Measured on an idle runner: V8 heap
 * 22 → 14 MB, external memory 24 → 8 MB, VmRSS about 7 MB lower. A resolve hook
 * (module.registerHooks, Node ≥ 22.15) swaps those two internal modules for stand-ins that
 * load the real ones on first call, so both features still work when someone needs them.
 * The hook touches nothing else.
 */
import { createRequire, registerHooks } from "node:module";
import { pathToFileURL } from "node:url";
import type DockerType from "dockerode";

const require = createRequire(import.meta.url);
const LAZY: Array<{ parent: string; specifier: string; shim: string }> = [
  { parent: "/docker-modem/lib/modem.js", specifier: "./ssh", shim: pathToFileURL(require.resolve("./dockerode-lazy/ssh.cjs")).href },
  { parent: "/dockerode/lib/docker.js", specifier: "./session", shim: pathToFileURL(require.resolve("./dockerode-lazy/session.cjs")).href },
];

// Without the hook API (a Node that predates it) dockerode simply loads in full.
if (typeof registerHooks === "function")
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const hit = LAZY.find((l) => l.specifier === specifier && context.parentURL?.endsWith(l.parent));
      return hit ? { url: hit.shim, format: "commonjs", shortCircuit: true } : nextResolve(specifier, context);
    },
  });

const Docker: typeof DockerType = require("dockerode");
export default Docker;
