// Stands in for docker-modem's lib/ssh.js (swapped in by scripts/build-runner.ts): the real module,
// and ssh2 with it, loads on first use, i.e. only for an ssh:// DOCKER_HOST.
"use strict";
const { createRequire } = require("node:module");
const fromModem = createRequire(require.resolve("docker-modem", { paths: [require.resolve("dockerode")] }));
module.exports = function lazySsh(opt) {
  return fromModem("./ssh.js")(opt);
};
