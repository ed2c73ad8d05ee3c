/**
 * The seams of Loop's module graph, checked by `npm run lint:deps` (part of `npm test`).
 * docs/architecture.md says why each exists. Type-only imports count: a cycle of types is a
 * cycle a reader must untangle all the same.
 */
module.exports = {
  forbidden: [
    {
      name: "protocol-imports-nothing",
      comment: "protocol/ is the wire format shared by the Worker and the runner: zod and nothing of the project.",
      severity: "error",
      from: { path: "^protocol/" },
      to: { path: "^(worker|core|durable-objects|runner|scripts|bench|test)/" },
    },
    {
      name: "runner-imports-only-protocol",
      comment: "runner/ is a separate program on the Docker host: of the rest of the project it may use only protocol/.",
      severity: "error",
      from: { path: "^runner/" },
      to: { path: "^(worker|core|durable-objects|scripts|bench|test)/" },
    },
    {
      name: "worker-reaches-dos-through-the-contract",
      comment:
        "Code in worker/ and core/ talks to the Durable Objects through durable-objects/contracts.ts (dispatcherOf, sessionOf, the RPC interfaces), never a DO class file. worker/index.ts alone re-exports the classes, because wrangler binds them by the entry's exports.",
      severity: "error",
      from: { path: "^(worker|core)/", pathNot: "^worker/index\\.ts$" },
      to: { path: "^durable-objects/", pathNot: "^durable-objects/contracts\\.ts$" },
    },
    {
      name: "dos-never-import-the-worker",
      comment:
        "A Durable Object runs the rules in core/ (db/, domain/, loops/, the Discord rendering and REST client, env, log, text, errors). It never imports anything of worker/, the HTTP surfaces and the entry: that would put the whole app inside every object and close a cycle through index.ts.",
      severity: "error",
      from: { path: "^durable-objects/" },
      to: { path: "^worker/" },
    },
    {
      name: "core-never-imports-the-worker",
      comment: "core/ is what the Worker and the Durable Objects share; the HTTP surfaces (routes, http, mcp, the Discord command handlers) are built on it, never the reverse.",
      severity: "error",
      from: { path: "^core/" },
      to: { path: "^worker/" },
    },
    {
      name: "contract-is-a-leaf",
      comment: "durable-objects/contracts.ts is types and constants: it may import protocol/ and pure type modules, never a DO class or effectful code.",
      severity: "error",
      from: { path: "^durable-objects/contracts\\.ts$" },
      to: { path: "^(durable-objects|worker|core/(db|domain|loops)/|core/(env|log)\\.ts$)" },
    },
    {
      name: "no-cycles",
      comment: "No import cycle anywhere, type-only imports included.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    moduleSystems: ["es6", "cjs"],
  },
};
