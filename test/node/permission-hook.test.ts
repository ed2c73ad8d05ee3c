// The permission hook the runner writes (runner/permission-hook.ts), run as Claude Code runs
// it: a real shell (dash, busybox sh, bash) with a hook input recorded from Claude Code
// 2.1.330 on stdin (test/fixtures/hook-input; paths rewritten to /srv/demo).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PermissionPolicy, type PermissionPolicyInput, type ToolDecision } from "../../protocol/policy.ts";
import { hookScript, parseRule, permissionArgs, permissionFiles } from "../../runner/permission-hook.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/hook-input");
const WORKDIR = "/srv/demo";
const input = (name: string) => readFileSync(join(FIXTURES, `${name}.json`), "utf8");

const which = (s: string) => spawnSync("sh", ["-c", `command -v ${s}`], { encoding: "utf8" }).stdout.trim();
const shells = ["dash", "busybox", "bash"].filter(which);
const dir = mkdtempSync(join(tmpdir(), "loop-hook-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function decide(policy: PermissionPolicyInput, fixture: string, opts: { approval?: ToolDecision; shell?: string } = {}) {
  const file = join(dir, `hook-${n++}.sh`);
  writeFileSync(file, hookScript({ policy: PermissionPolicy.parse(policy), approval: opts.approval ?? null, workdir: WORKDIR, runDir: "/run/loop", runId: 1 }));
  const shell = opts.shell ?? "dash";
  const args = shell === "busybox" ? ["sh", file] : [file];
  const out = execFileSync(which(shell), args, { input: input(fixture), encoding: "utf8", env: { PATH: "/nonexistent", HOME: "/home/agent" } });
  const parsed = JSON.parse(out).hookSpecificOutput;
  expect(parsed.hookEventName).toBe("PreToolUse");
  return { decision: parsed.permissionDecision as string, reason: parsed.permissionDecisionReason as string | undefined };
}

const ask = (allow: string[] = [], deny: string[] = []): PermissionPolicyInput => ({ mode: "ask", allow, deny });

describe.each(shells)("the hook under %s (built-ins only: PATH leads nowhere)", (shell) => {
  it("defers a call no rule allows", () => {
    expect(decide(ask(["Read"]), "bash-write-file", { shell }).decision).toBe("defer");
  });
  it("allows a Bash call matching a prefix rule, and a tool named bare", () => {
    expect(decide(ask(["Bash(npm test:*)"]), "bash-npm-test", { shell }).decision).toBe("allow");
    expect(decide(ask(["Read"]), "read", { shell }).decision).toBe("allow");
  });
  it("answers the recorded decision for that tool_use id only", () => {
    const approval: ToolDecision = { tool_use_id: "toolu_01Write", tool_name: "Bash", behavior: "deny", reason: "not on Fridays" };
    expect(decide(ask(), "bash-write-file", { shell, approval })).toEqual({ decision: "deny", reason: "not on Fridays" });
    expect(decide(ask(), "bash-npm-test", { shell, approval }).decision).toBe("defer");
  });
});

describe("allow rules are never wider than Claude Code's", () => {
  it("a compound or multi-line command never matches a content rule", () => {
    expect(decide(ask(["Bash(echo:*)"]), "bash-compound").decision).toBe("defer");
    expect(decide(ask(["Bash(echo *)"]), "bash-compound").decision).toBe("defer");
    // a bare Bash rule allows every command, as in Claude Code
    expect(decide(ask(["Bash"]), "bash-compound").decision).toBe("allow");
  });
  it("prefix rules end at a word: npm test:* does not allow npm testx", () => {
    expect(decide(ask(["Bash(npm tes:*)"]), "bash-npm-test").decision).toBe("defer");
    expect(decide(ask(["Bash(npm test -- --run)"]), "bash-npm-test").decision).toBe("allow");
    expect(decide(ask(["Bash(npm * --run)"]), "bash-npm-test").decision).toBe("allow");
  });
  it("path rules resolve against the project, and a path with .. never matches", () => {
    expect(decide(ask(["Edit(src/**)"]), "edit").decision).toBe("allow");
    expect(decide(ask(["Edit(/src/*.ts)"]), "edit").decision).toBe("allow");
    expect(decide(ask(["Edit(//srv/demo/src/a.ts)"]), "edit").decision).toBe("allow");
    expect(decide(ask(["Edit(src)"]), "edit").decision).toBe("allow");
    expect(decide(ask(["Edit(src/**)"]), "edit-dotdot").decision).toBe("defer");
    expect(decide(ask(["Edit(docs/**)"]), "edit").decision).toBe("defer");
    // a single * stays within one directory
    expect(decide(ask(["Edit(/*.ts)"]), "edit").decision).toBe("defer");
    // Edit rules cover Write too; Read rules do not cover edits
    expect(decide(ask(["Edit(src/**)"]), "write-posing-id").decision).toBe("allow");
    expect(decide(ask(["Read(src/**)"]), "edit").decision).toBe("defer");
  });
  it("WebFetch domain rules match the host only", () => {
    expect(decide(ask(["WebFetch(domain:docs.example.com)"]), "webfetch").decision).toBe("allow");
    expect(decide(ask(["WebFetch(domain:*.example.com)"]), "webfetch").decision).toBe("allow");
    expect(decide(ask(["WebFetch(domain:example.com)"]), "webfetch").decision).toBe("defer");
  });
  it("MCP rules: a server name allows its tools", () => {
    expect(decide(ask(["mcp__loop"]), "mcp-posing-id").decision).toBe("allow");
    expect(decide(ask(["mcp__loop__*"]), "mcp-posing-id").decision).toBe("allow");
    expect(decide(ask(["mcp__other"]), "mcp-posing-id").decision).toBe("defer");
  });
  it("a tool input holding a tool_use_id cannot borrow another call's decision", () => {
    const approval: ToolDecision = { tool_use_id: "toolu_01NpmTest", tool_name: "Bash", behavior: "allow", reason: null };
    expect(decide(ask(), "mcp-posing-id", { approval }).decision).toBe("defer");
    const read: ToolDecision = { tool_use_id: "toolu_read", tool_name: "Read", behavior: "allow", reason: null };
    expect(decide(ask(), "write-posing-id", { approval: read }).decision).toBe("defer");
  });
});

describe("deny rules", () => {
  it("win over allow rules, with the rule named for the model", () => {
    expect(decide(ask(["Bash"], ["Bash(echo:*)"]), "bash-write-file")).toEqual({ decision: "deny", reason: "the channel's policy denies Bash(echo:*)" });
    // wider than allow: a compound command is matched as a whole
    expect(decide(ask(["Bash"], ["Bash(echo *)"]), "bash-compound").decision).toBe("deny");
    expect(decide(ask([], ["Edit(src/**)"]), "edit-dotdot").decision).toBe("deny");
  });
});

describe("settings and flags", () => {
  it("auto and read-only keep skipping prompts; deny rules go to Claude Code", () => {
    const ro = PermissionPolicy.parse({ mode: "read-only", deny: ["WebFetch"] });
    const files = permissionFiles({ policy: ro, approval: null, workdir: WORKDIR, runDir: "/run/loop", runId: 1 });
    expect(files.hook).toBeNull();
    expect(JSON.parse(files.settings)).toEqual({ permissions: { deny: ["WebFetch", "Bash", "Edit", "Write", "MultiEdit", "NotebookEdit"] } });
    expect(permissionArgs(ro, "/run/loop")).toEqual(["--dangerously-skip-permissions", "--settings=/run/loop/settings.json"]);
    expect(permissionArgs(null, "/run/loop")).toEqual(["--dangerously-skip-permissions"]);
  });
  it("ask runs dontAsk with the hook on every tool and the allow rules as a fallback", () => {
    const p = PermissionPolicy.parse({ mode: "ask", allow: ["Read"] });
    const files = permissionFiles({ policy: p, approval: null, workdir: WORKDIR, runDir: "/run/loop", runId: 1 });
    const settings = JSON.parse(files.settings);
    expect(settings.permissions).toEqual({ deny: [], allow: ["Read"] });
    expect(settings.hooks.PreToolUse[0].matcher).toBe("*");
    expect(settings.hooks.PreToolUse[0].hooks[0].command).toBe("sh /run/loop/permission-hook.sh");
    expect(permissionArgs(p, "/run/loop")).toEqual(["--permission-mode", "dontAsk", "--settings=/run/loop/settings.json"]);
  });
  it("parses rules as Claude Code writes them", () => {
    expect(parseRule("Bash(npm test:*)")).toEqual({ tool: "Bash", content: "npm test:*" });
    expect(parseRule("Read")).toEqual({ tool: "Read", content: null });
    expect(parseRule("Bash(*)")).toEqual({ tool: "Bash", content: null });
  });
});
