/**
 * Builds the runner for production: minified ESM, dist/loop.mjs and its chunks, run by plain Node
 * (no TypeScript stripping at start-up, which alone costs ~16 MB of an idle runner's RSS).
 * Run by `npm install` (prepare) and `npm run build:runner`.
 *
 * dockerode loads gRPC (BuildKit sessions) and docker-modem loads ssh2 (ssh:// hosts, with a
 * WebAssembly poly1305 that reserves 16 MB) when they are first required, though a runner
 * talking to a local socket never uses either. The bundle swaps those two internal modules
 * for stand-ins (runner/dockerode-lazy/) that load the real ones on first call.
 */
import { build, type Plugin } from "esbuild";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");

const lazyDockerTransports: Plugin = {
  name: "lazy-docker-transports",
  setup(b) {
    const swaps = [
      { importer: "/docker-modem/lib/modem.js", path: "./ssh", shim: "../runner/dockerode-lazy/ssh.cjs" },
      { importer: "/dockerode/lib/docker.js", path: "./session", shim: "../runner/dockerode-lazy/session.cjs" },
    ];
    b.onResolve({ filter: /^\.\/(ssh|session)$/ }, (args) => {
      const swap = swaps.find((s) => s.path === args.path && args.importer.endsWith(s.importer));
      // External, relative to dist/loop.mjs: the stand-in requires the real module from node_modules.
      return swap ? { path: swap.shim, external: true } : undefined;
    });
  },
};

// The chunks of an earlier build (their names carry content hashes); a fresh clone has no dist/.
const DIST = resolve(ROOT, "dist");
mkdirSync(DIST, { recursive: true });
for (const f of readdirSync(DIST, { withFileTypes: true }).filter((e) => e.isFile() && /^loop-.*\.mjs(\.map)?$/.test(e.name))) {
  rmSync(resolve(DIST, f.name));
}

const result = await build({
  entryPoints: { loop: resolve(ROOT, "runner/cli.ts") },
  outdir: DIST,
  outExtension: { ".js": ".mjs" },
  // Each command the CLI imports on demand is a chunk of its own, loaded only when run: a
  // runner never parses `loop mcp`'s MCP SDK (≈ 0.6 MB of code, ≈ 4.5 MB of RSS at start).
  // Chunks sit beside loop.mjs, so paths relative to a module's own file hold in all of them.
  splitting: true,
  chunkNames: "loop-[name]-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  minify: true,
  sourcemap: "linked",
  // jsonc-parser's "main" is a UMD build with dynamic requires; its ESM build bundles cleanly.
  mainFields: ["module", "main"],
  // CommonJS dependencies (dockerode) call require(); give the ESM bundle one.
  banner: { js: "import{createRequire as __loopRequire}from'node:module';const require=__loopRequire(import.meta.url);" },
  // An optional native addon of ssh2, loaded (if at all) by ssh2 itself from node_modules.
  external: ["cpu-features"],
  plugins: [lazyDockerTransports],
  logLevel: "warning",
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`built dist/loop.mjs (${Math.round(bytes / 1024)} KiB with its source map)`);
