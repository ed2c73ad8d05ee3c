// Stands in for dockerode's lib/session.js (swapped in by scripts/build-runner.ts): the real module,
// and gRPC with it, loads on first use, i.e. only for a BuildKit build (version "2").
"use strict";
const { createRequire } = require("node:module");
const fromDockerode = createRequire(require.resolve("dockerode"));
module.exports = function lazySession(...args) {
  return fromDockerode("./session.js")(...args);
};
