/**
 * A run's permission policy (protocol/policy.ts) as Claude Code enforces it inside the
 * container (issue 13): a settings file and a PreToolUse hook, both written to the run's
 * private read-only directory. Nothing in the agent image changes.
 *
 * Measured with Claude Code 2.1.330 (docs/runner.md, "Permission policies"):
 * - a PreToolUse hook answering permissionDecision "defer" stops `claude -p` before the tool
 *   runs; the result line says stop_reason "tool_deferred" and carries deferred_tool_use;
 * - when several hooks answer, deny beats defer beats ask beats allow, so allow rules cannot
 *   be separate hooks beside a catch-all "defer": one hook decides;
 * - `permissions.deny` rules hold even under --dangerously-skip-permissions and even when a
 *   hook answers allow; so deny rules always go there, and Claude Code's own matcher is the
 *   last word on them;
 * - a PermissionRequest hook cannot defer (its decision is allow or deny only).
 *
 * So: mode auto and read-only run as today (--dangerously-skip-permissions) with deny rules
 * in the settings; mode ask runs with --permission-mode dontAsk (anything no hook or rule
 * allows is refused, so a project that disables hooks fails closed) and the hook below.
 *
 * The hook is POSIX sh using only shell built-ins: every image that can run Claude Code hooks
 * has a shell, and nothing else can be assumed (the test image has no node, python or jq).
 * Its rule matcher is deliberately narrower than Claude Code's for allow rules (a compound
 * Bash command, a path with "..", an escaped character: no match, so the call waits for a
 * person) and as wide as it can be for deny rules (Claude Code still applies those itself).
 */
import { readFileSync } from "node:fs";
import type { PermissionPolicy, ToolDecision } from "../protocol/policy.ts";
import { READ_ONLY_DENY } from "../protocol/policy.ts";
import { HOOK_PRELUDE } from "./assets.ts";

export const SETTINGS_FILE = "settings.json";
export const HOOK_FILE = "permission-hook.sh";
/** Seconds Claude Code gives the hook; it answers in milliseconds. */
const HOOK_TIMEOUT_SEC = 30;

/** The flags that replace --dangerously-skip-permissions when a policy applies. */
export function permissionArgs(policy: PermissionPolicy | null, runDir: string): string[] {
  if (!policy) return ["--dangerously-skip-permissions"];
  const mode = policy.mode === "ask" ? ["--permission-mode", "dontAsk"] : ["--dangerously-skip-permissions"];
  return [...mode, `--settings=${runDir}/${SETTINGS_FILE}`];
}

export interface HookContext {
  policy: PermissionPolicy;
  /** The resumed run's recorded decision for one tool_use id. */
  approval: ToolDecision | null;
  /** The project directory (relative path rules resolve against it). */
  workdir: string;
  /** Where the run directory is mounted in the container. */
  runDir: string;
  runId: number;
}

export interface PermissionFiles {
  settings: string;
  /** Absent when the mode needs no hook. */
  hook: string | null;
}

export function permissionFiles(c: HookContext): PermissionFiles {
  const deny = [...c.policy.deny, ...(c.policy.mode === "read-only" ? READ_ONLY_DENY : [])];
  const ask = c.policy.mode === "ask";
  const settings = {
    permissions: { deny: [...new Set(deny)], ...(ask ? { allow: c.policy.allow } : {}) },
    ...(ask
      ? { hooks: { PreToolUse: [{ matcher: "*", hooks: [{ type: "command", command: `sh ${c.runDir}/${HOOK_FILE}`, timeout: HOOK_TIMEOUT_SEC }] }] } }
      : {}),
  };
  return { settings: JSON.stringify(settings, null, 2), hook: ask ? hookScript(c) : null };
}

// ---- the hook --------------------------------------------------------------------------

/** A string as one sh word, literally. */
export const shq = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

const answerJson = (decision: "allow" | "deny" | "defer", reason?: string): string =>
  JSON.stringify({ hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: decision, ...(reason ? { permissionDecisionReason: reason } : {}) } });

/** Rule tool names that govern several tools, as Claude Code applies them. */
const FAMILIES: Record<string, string[]> = {
  Edit: ["Edit", "Write", "MultiEdit", "NotebookEdit"],
  Read: ["Read", "Glob", "Grep"],
};
const PATH_TOOLS = new Set(["Edit", "Write", "MultiEdit", "NotebookEdit", "Read", "Glob", "Grep"]);

export interface ParsedRule {
  tool: string;
  content: string | null;
}

export function parseRule(rule: string): ParsedRule {
  const open = rule.indexOf("(");
  if (open < 0 || !rule.endsWith(")")) return { tool: rule, content: null };
  const content = rule.slice(open + 1, -1);
  return { tool: rule.slice(0, open), content: content === "*" || content === "" ? null : content };
}

/** A glob (only `*` is special) as a sh case pattern: literal parts quoted. */
const globPattern = (glob: string): string =>
  glob
    .split("*")
    .map((part) => (part ? shq(part) : ""))
    .join("*");

const toolTest = (tool: string): string => {
  if (/^mcp__[^_]+(?:_[^_]+)*$/.test(tool) && !tool.slice(5).includes("__")) return `case $tool in ${shq(`${tool}__`)}*) ;; *) return 1 ;; esac`;
  if (tool.startsWith("mcp__") && tool.endsWith("__*")) return `case $tool in ${shq(tool.slice(0, -1))}*) ;; *) return 1 ;; esac`;
  const names = FAMILIES[tool] ?? [tool];
  return `case $tool in ${names.map(shq).join("|")}) ;; *) return 1 ;; esac`;
};

/** A path rule's pattern as an absolute glob, Claude Code's way: //abs, ~/home, /project-root, relative. */
function absolutePattern(content: string, workdir: string): { pattern: string; home: boolean } {
  if (content.startsWith("//")) return { pattern: content.slice(1), home: false };
  if (content.startsWith("~/")) return { pattern: content.slice(1), home: true };
  const root = workdir.replace(/\/+$/, "");
  if (content.startsWith("/")) return { pattern: root + content, home: false };
  return { pattern: `${root}/${content.replace(/^\.\//, "")}`, home: false };
}

/** The body of a sh function that returns 0 when the call matches the rule. */
function ruleBody(rule: string, kind: "allow" | "deny", workdir: string): string | null {
  const { tool, content } = parseRule(rule);
  const lines = [toolTest(tool)];
  if (content === null) return [...lines, "return 0"].join("\n  ");
  if (tool === "Bash") {
    lines.push("str command \"$ti\" || return 1", "cmd=$val");
    // A compound command could hide anything behind an allowed prefix: never allow one here
    // (Claude Code splits them; this hook does not try). For deny the whole text is matched.
    if (kind === "allow") lines.push('case $cmd in *[\\;\\&\\|\\`\\$\\<\\>\\(\\)]*|*"$nl"*|*"$cr"*) return 1 ;; esac');
    if (content.endsWith(":*")) {
      const prefix = content.slice(0, -2);
      lines.push(`[ "$cmd" = ${shq(prefix)} ] && return 0`, `case $cmd in ${shq(`${prefix} `)}*) return 0 ;; esac`, "return 1");
    } else {
      lines.push(`case $cmd in ${globPattern(content)}) return 0 ;; esac`, "return 1");
    }
    return lines.join("\n  ");
  }
  if (PATH_TOOLS.has(tool)) {
    const { pattern, home } = absolutePattern(content, workdir);
    const stars = pattern.replace(/\*\*/g, "");
    const single = stars.includes("*");
    const double = pattern.includes("**");
    // sh's `*` crosses "/", Claude Code's single `*` does not: a pattern with only single stars
    // also needs as many "/" as the path; one mixing both is too wide to allow anything.
    if (kind === "allow" && single && double) return null;
    let glob = pattern.replace(/\*\*/g, "*");
    const directory = !pattern.includes("*");
    if (directory) glob = glob.replace(/\/+$/, "");
    const casePattern = (home ? '"$HOME"' : "") + globPattern(glob);
    lines.push('target_path || return 1');
    lines.push(kind === "allow" ? "clean_path \"$p\" || return 1" : ":");
    if (directory) lines.push(`case $p in ${casePattern}|${casePattern}/*) return 0 ;; esac`, "return 1");
    else if (single && !double) lines.push(`case $p in ${casePattern}) ;; *) return 1 ;; esac`, `[ "$(slashes "$p")" = ${(glob.match(/\//g) ?? []).length} ]`);
    else lines.push(`case $p in ${casePattern}) return 0 ;; esac`, "return 1");
    return lines.join("\n  ");
  }
  if (tool === "WebFetch" && content.startsWith("domain:")) {
    lines.push("url_host || return 1", `case $h in ${globPattern(content.slice("domain:".length))}) return 0 ;; esac`, "return 1");
    return lines.join("\n  ");
  }
  // Content this hook cannot judge: an allow rule never matches here (the call waits for a
  // person); a deny rule is left to Claude Code, which holds it in permissions.deny.
  return null;
}

/** The shared part of every hook (runner/hook/permission-hook.sh), read once. */
let prelude: string | undefined;
const hookPrelude = (): string => (prelude ??= readFileSync(HOOK_PRELUDE, "utf8"));

export function hookScript(c: HookContext): string {
  const out: string[] = [
    "#!/bin/sh",
    `# Loop's permission hook for run ${c.runId}, written by the runner (runner/permission-hook.ts).`,
    "# Claude Code runs it before every tool call with the call as JSON on stdin; it answers",
    "# allow, deny, or defer (the run stops and the call waits for a person).",
    `workdir=${shq(c.workdir)}`,
    hookPrelude(),
    `[ -n "$tool" ] || answer ${shq(answerJson("defer"))}`,
  ];
  const fns: string[] = [];
  const checks: string[] = [];
  if (c.approval) {
    const a = c.approval;
    const decided = a.behavior === "allow" ? answerJson("allow", "approved by a person") : answerJson("deny", a.reason ?? "denied by a person");
    checks.push(`[ "$id" = ${shq(a.tool_use_id)} ] && [ "$tool" = ${shq(a.tool_name)} ] && answer ${shq(decided)}`);
  }
  c.policy.deny.forEach((rule, i) => {
    const body = ruleBody(rule, "deny", c.workdir);
    if (!body) return;
    fns.push(`deny_${i}() {\n  ${body}\n}`);
    checks.push(`deny_${i} && answer ${shq(answerJson("deny", `the channel's policy denies ${rule}`))}`);
  });
  c.policy.allow.forEach((rule, i) => {
    const body = ruleBody(rule, "allow", c.workdir);
    if (!body) return;
    fns.push(`allow_${i}() {\n  ${body}\n}`);
    checks.push(`allow_${i} && answer ${shq(answerJson("allow", `the channel's policy allows ${rule}`))}`);
  });
  out.push(...fns, ...checks, `answer ${shq(answerJson("defer"))}`, "");
  return out.join("\n");
}
