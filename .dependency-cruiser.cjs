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
      to: { path: "^(worker|durable-objects|runner|scripts|bench|test)/" },
    },
    {
      name: "runner-imports-only-protocol",
      comment: "runner/ is a separate program on the Docker host: of the rest of the project it may use only protocol/.",
      severity: "error",
      from: { path: "^runner/" },
      to: { path: "^(worker|durable-objects|scripts|bench|test)/" },
    },
    {
      name: "worker-reaches-dos-through-the-contract",
      comment:
        "Code in worker/ talks to the Durable Objects through durable-objects/contracts.ts (dispatcherOf, sessionOf, the RPC interfaces), never a DO class file. worker/index.ts alone re-exports the classes, because wrangler binds them by the entry's exports.",
      severity: "error",
      from: { path: "^worker/", pathNot: "^worker/index\\.ts$" },
      to: { path: "^durable-objects/", pathNot: "^durable-objects/contracts\\.ts$" },
    },
    {
      name: "dos-never-import-the-http-surfaces",
      comment:
        "A Durable Object runs the domain's rules, so durable-objects/ may use the shared modules of worker/ (db/, domain/, loops/, the Discord rendering and REST client in discord/, env.ts, log.ts, text.ts, errors.ts). It never imports an HTTP surface or the entry (routes/, http/, mcp/, app.ts, index.ts, the Discord command handlers): that would put the whole app inside every object and close a cycle through index.ts.",
      severity: "error",
      from: { path: "^durable-objects/" },
      to: { path: "^worker/(routes/|http/|mcp/|app\\.ts$|index\\.ts$|discord/commands/|discord/answer-interaction\\.ts$)" },
    },
    {
      name: "contract-is-a-leaf",
      comment: "durable-objects/contracts.ts is types and constants: it may import protocol/ and pure type modules, never a DO class or the Worker's effectful code.",
      severity: "error",
      from: { path: "^durable-objects/contracts\\.ts$" },
      to: { path: "^(durable-objects|worker/(routes|http|mcp|db|domain|loops)|worker/(env|app|index)\\.ts$)" },
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
