// runner/dockerode-slim.ts keeps ssh2 and gRPC out of an idle runner, yet both still load
// when used. Checked in a fresh Node process: this test process has dockerode loaded in full.
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

describe("dockerode without its unused transports", () => {
  it("talks to the Engine without loading ssh2 or gRPC; the stand-ins load the real modules on first call", () => {
    const script = `
      import { createRequire } from "node:module";
      import Docker from "./runner/dockerode-slim.ts";
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => /node_modules\\/(ssh2|@grpc)\\//.test(k)).length;
      await new Docker().ping();
      const before = loaded();
      const lazySsh = createRequire(import.meta.url)("./runner/dockerode-lazy/ssh.cjs");
      const agent = lazySsh({ host: "127.0.0.1", port: 1, username: "nobody" });
      console.log(JSON.stringify({ before, after: loaded(), agent: typeof agent.createConnection }));`;
    const out = execFileSync(join(ROOT, "node_modules/.bin/node"), ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
    const { before, after, agent } = JSON.parse(out.trim().split("\n").at(-1)!);
    expect(before).toBe(0);
    expect(after).toBeGreaterThan(0);
    expect(agent).toBe("function");
  });
});
