/**
 * `loop daemon:start|stop|status` and the original's command aliases. The unit file is real
 * and checked with `systemd-analyze verify` where it exists (the text otherwise); the calls
 * to systemctl go through a recording exec, since this machine has no user session bus.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { daemonStart, daemonStatus, daemonStop, launchdPlist, SYSTEMD_UNIT, type Exec } from "../../runner/daemon.ts";
import { cliEnv, LOOP, NODE, removeTempDirs, runLoop, tempDir } from "./cli.ts";

afterAll(removeTempDirs);

function recorder(answers: Record<string, { status: number; output: string }> = {}) {
  const calls: string[] = [];
  const exec: Exec = (cmd, args) => {
    const line = [cmd, ...args].join(" ");
    calls.push(line);
    return answers[line] ?? { status: 0, output: "" };
  };
  return { calls, exec };
}

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;

describe("daemon:start on Linux", () => {
  it("writes a systemd user unit running `loop runner --config …` that systemd-analyze accepts, then enables and starts it", async () => {
    const home = await tempDir("loop-daemon-");
    const config = join(home, "my config.json"); // a space, to hold the quoting to account
    writeFileSync(config, "{}");
    const { calls, exec } = recorder();
    const lines: string[] = [];
    const file = daemonStart({ node: NODE, script: LOOP, config, home, path: "/usr/local/bin:/usr/bin:/bin" }, { platform: "linux", exec, log: (l) => lines.push(l) });

    expect(file).toBe(join(home, ".config/systemd/user", SYSTEMD_UNIT));
    const unit = readFileSync(file, "utf8");
    expect(unit).toContain(`ExecStart=${NODE} ${LOOP} runner --config "${config}"`);
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^WantedBy=default\.target$/m);
    expect(unit).toMatch(/^KillSignal=SIGTERM$/m);
    if (hasSystemdAnalyze) {
      const verify = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8" });
      // verify prints nothing and exits 0 for a unit without problems.
      expect(`${verify.stdout}${verify.stderr}`.split("\n").filter((l) => l.includes(SYSTEMD_UNIT))).toEqual([]);
      expect(verify.status).toBe(0);
    }
    expect(calls.slice(0, 2)).toEqual(["systemctl --user daemon-reload", `systemctl --user enable --now ${SYSTEMD_UNIT}`]);
    expect(lines[0]).toMatch(/^Daemon started: systemd user unit loop-runner\.service/);

    const status = recorder({ [`systemctl --user is-active ${SYSTEMD_UNIT}`]: { status: 0, output: "active\n" } });
    expect(daemonStatus(home, { platform: "linux", exec: status.exec, log: () => {} })).toBe("running");
    daemonStop(home, { platform: "linux", exec: recorder().exec, log: () => {} });
    expect(existsSync(file)).toBe(false);
    expect(daemonStatus(home, { platform: "linux", exec: recorder().exec, log: () => {} })).toBe("not installed");
  });

  it("says what failed when systemd cannot start it, and needs a config first", async () => {
    const home = await tempDir("loop-daemon-");
    const target = { node: NODE, script: LOOP, config: join(home, "config.json"), home, path: "/usr/bin" };
    expect(() => daemonStart(target, { platform: "linux", exec: recorder().exec, log: () => {} })).toThrow(/no runner config at .*config\.json: run `loop onboard` first/);
    writeFileSync(target.config, "{}");
    const { exec } = recorder({ "systemctl --user daemon-reload": { status: 1, output: "Failed to connect to bus: No medium found" } });
    expect(() => daemonStart(target, { platform: "linux", exec, log: () => {} })).toThrow(/unit written to .*loop-runner\.service, but systemd did not reload .*Failed to connect to bus/);
  });
});

describe("daemon:start on macOS", () => {
  it("writes a launchd agent plist with the runner command and a log file", () => {
    const plist = launchdPlist({ node: "/opt/node", script: "/opt/loop/dist/loop.mjs", config: "/Users/me/.loop/config.json", home: "/Users/me", path: "/usr/bin" });
    expect(plist).toContain("<string>dev.loop.runner</string>");
    expect(plist).toMatch(/<string>\/opt\/node<\/string>\s*<string>\/opt\/loop\/dist\/loop\.mjs<\/string>\s*<string>runner<\/string>\s*<string>--config<\/string>\s*<string>\/Users\/me\/\.loop\/config\.json<\/string>/);
    expect(plist).toContain("<string>/Users/me/Library/Logs/loop-runner.log</string>");
    if (spawnSync("xmllint", ["--version"]).status === 0) execFileSync("xmllint", ["--noout", "-"], { input: plist });
  });
});

describe("the original's command aliases", () => {
  it("up and init run their commands, and the command list names every alias", async () => {
    const home = await tempDir("loop-alias-");
    const env = cliEnv(home);
    expect((await runLoop(["up", "--help"], { cwd: home, env })).stdout).toMatch(/^usage: loop daemon:start/);
    expect((await runLoop(["init", "--help"], { cwd: home, env })).stdout).toMatch(/^usage: loop onboard:local/);
    const list = (await runLoop(["--help"], { cwd: home, env })).stdout;
    expect(list).toMatch(/daemon:start .*\(d:start, up\)$/m);
    expect(list).toMatch(/daemon:stop .*\(d:stop, down\)$/m);
    expect(list).toMatch(/onboard:local .*\(o:local, init\)$/m);
    expect(list).toMatch(/mcp .*\(m\)$/m);
    expect(list).toMatch(/onboard .*\(setup, o:global, onboard:global\)$/m);
  });
});
