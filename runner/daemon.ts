/**
 * `loop daemon:start|stop|status` (the original's commands): the runner as a service of the
 * logged-in user. A systemd user unit on Linux (~/.config/systemd/user/loop-runner.service),
 * a launchd agent on macOS (~/Library/LaunchAgents/dev.loop.runner.plist). The unit files
 * are pure functions of where node, the loop script and the config are; the commands that
 * install them run through an injected `exec`, so tests check the files and the calls.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "./user-error.ts";

export const SYSTEMD_UNIT = "loop-runner.service";
export const LAUNCHD_LABEL = "dev.loop.runner";

export interface DaemonTarget {
  /** The node binary (process.execPath). */
  node: string;
  /** The loop CLI script (runner/bin/loop.js or dist/loop.mjs). */
  script: string;
  config: string;
  home: string;
  /** PATH for the service: docker, git and ssh must be found from it. */
  path: string;
}

/** systemd's quoting: a word with spaces, quotes or backslashes goes in double quotes. */
const sdQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`);

export function systemdUnit(t: DaemonTarget): string {
  return [
    "# Written by `loop daemon:start`; `loop daemon:stop` removes it.",
    "[Unit]",
    "Description=Loop runner: Claude agents in Docker for the Loop Worker",
    "After=network-online.target",
    "Wants=network-online.target",
    "",
    "[Service]",
    "Type=simple",
    `ExecStart=${[t.node, t.script, "runner", "--config", t.config].map(sdQuote).join(" ")}`,
    `Environment=${sdQuote(`PATH=${t.path}`)}`,
    // SIGTERM lets running jobs finish within shutdown_grace_sec; a restart hands the rest back.
    "KillSignal=SIGTERM",
    "TimeoutStopSec=120",
    "Restart=on-failure",
    "RestartSec=5",
    "",
    "[Install]",
    "WantedBy=default.target",
    "",
  ].join("\n");
}

const xml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export function launchdPlist(t: DaemonTarget): string {
  const args = [t.node, t.script, "runner", "--config", t.config].map((a) => `    <string>${xml(a)}</string>`).join("\n");
  const log = join(t.home, "Library/Logs/loop-runner.log");
  return `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${LAUNCHD_LABEL}</string>
  <key>ProgramArguments</key>
  <array>
${args}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>PATH</key>
    <string>${xml(t.path)}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>StandardOutPath</key>
  <string>${xml(log)}</string>
  <key>StandardErrorPath</key>
  <string>${xml(log)}</string>
</dict>
</plist>
`;
}

export interface ExecResult {
  status: number;
  output: string;
}
export type Exec = (cmd: string, args: string[]) => ExecResult;

export const realExec: Exec = (cmd, args) => {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status ?? 1, output: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? r.error.message : ""}`.trim() };
};

export interface DaemonDeps {
  platform: NodeJS.Platform;
  exec: Exec;
  log: (line: string) => void;
}

export const unitPath = (platform: NodeJS.Platform, home: string): string =>
  platform === "darwin" ? join(home, "Library/LaunchAgents", `${LAUNCHD_LABEL}.plist`) : join(home, ".config/systemd/user", SYSTEMD_UNIT);

function supported(platform: NodeJS.Platform): void {
  if (platform !== "linux" && platform !== "darwin") throw new UserError(`daemon commands support Linux (systemd) and macOS (launchd), not ${platform}; run \`loop runner\` under your own service manager`);
}

function must(deps: DaemonDeps, cmd: string, args: string[], what: string): void {
  const r = deps.exec(cmd, args);
  if (r.status !== 0) throw new UserError(`${what}: \`${cmd} ${args.join(" ")}\` failed (${r.status}): ${r.output || "no output"}`);
}

/** Installs the unit and starts it (again, if it was running: the new unit takes effect). */
export function daemonStart(t: DaemonTarget, deps: DaemonDeps): string {
  supported(deps.platform);
  if (!existsSync(t.config)) throw new UserError(`no runner config at ${t.config}: run \`loop onboard\` first`);
  const file = unitPath(deps.platform, t.home);
  mkdirSync(dirname(file), { recursive: true });
  if (deps.platform === "darwin") {
    mkdirSync(join(t.home, "Library/Logs"), { recursive: true });
    writeFileSync(file, launchdPlist(t));
    deps.exec("launchctl", ["unload", file]); // not loaded yet is fine
    must(deps, "launchctl", ["load", "-w", file], `launchd agent written to ${file}, but loading it failed`);
    deps.log(`Daemon started: launchd agent ${LAUNCHD_LABEL} (${file}); log in ~/Library/Logs/loop-runner.log`);
    return file;
  }
  writeFileSync(file, systemdUnit(t));
  must(deps, "systemctl", ["--user", "daemon-reload"], `unit written to ${file}, but systemd did not reload (is there a user session? try \`loginctl enable-linger $USER\`)`);
  must(deps, "systemctl", ["--user", "enable", "--now", SYSTEMD_UNIT], `unit written to ${file}, but it did not start`);
  deps.exec("systemctl", ["--user", "restart", SYSTEMD_UNIT]);
  // Keeps the service running after logout and starts it at boot; best effort (no logind in containers).
  deps.exec("loginctl", ["enable-linger"]);
  deps.log(`Daemon started: systemd user unit ${SYSTEMD_UNIT} (${file}); logs: journalctl --user -u ${SYSTEMD_UNIT} -f`);
  return file;
}

export function daemonStop(home: string, deps: DaemonDeps): void {
  supported(deps.platform);
  const file = unitPath(deps.platform, home);
  if (deps.platform === "darwin") {
    if (existsSync(file)) deps.exec("launchctl", ["unload", "-w", file]);
  } else {
    const r = deps.exec("systemctl", ["--user", "disable", "--now", SYSTEMD_UNIT]);
    if (r.status !== 0 && existsSync(file) && !/not loaded|not found|does not exist/i.test(r.output)) throw new UserError(`could not stop ${SYSTEMD_UNIT}: ${r.output}`);
  }
  const had = existsSync(file);
  rmSync(file, { force: true });
  if (deps.platform === "linux") deps.exec("systemctl", ["--user", "daemon-reload"]);
  deps.log(had ? `Daemon stopped and removed (${file}).` : "Daemon was not installed.");
}

/** "running", "stopped" or "not installed", as the original's daemon:status says it. */
export function daemonStatus(home: string, deps: DaemonDeps): "running" | "stopped" | "not installed" {
  supported(deps.platform);
  const file = unitPath(deps.platform, home);
  if (!existsSync(file)) return "not installed";
  if (deps.platform === "darwin") return deps.exec("launchctl", ["list", LAUNCHD_LABEL]).status === 0 ? "running" : "stopped";
  return deps.exec("systemctl", ["--user", "is-active", SYSTEMD_UNIT]).output.trim() === "active" ? "running" : "stopped";
}
