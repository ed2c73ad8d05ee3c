/**
 * Permission policies (issue 13), the rules with no storage: reading a stored policy back
 * through the shared schema (a row written before a field existed gets its default), the
 * approval timeout, who may govern, and the narrowest rule for a call. Storage is in
 * policy-store.ts. The agent itself (a run token) may never change a policy: that would let
 * it lift its own limits.
 */
import { DEFAULT_APPROVAL_TIMEOUT, PermissionPolicy, type PermissionPolicyInput } from "../../protocol/policy.ts";
import { forbidden } from "../errors.ts";
import type { Actor } from "./actor.ts";
import { parseDuration } from "./schedule-grammar.ts";

export const DEFAULT_POLICY: PermissionPolicy = PermissionPolicy.parse({});

/** A stored policy (or none) as the full shape with defaults. */
export function policyOf(stored: PermissionPolicyInput | null | undefined): PermissionPolicy {
  const parsed = PermissionPolicy.safeParse(stored ?? {});
  return parsed.success ? parsed.data : DEFAULT_POLICY;
}

export function approvalTimeoutMs(policy: Pick<PermissionPolicy, "approval_timeout"> | null): number {
  return parseDuration(policy?.approval_timeout ?? DEFAULT_APPROVAL_TIMEOUT) ?? parseDuration(DEFAULT_APPROVAL_TIMEOUT)!;
}

/** Policies govern what the agent may do: the agent's own token cannot touch them. */
export function assertMayGovern(actor: Actor, action: string): void {
  if (actor.kind === "run") throw forbidden(`An agent's run token cannot ${action}; ask a person with an API token or in Discord.`);
}

/**
 * What the permission hook (runner/permission-hook.ts) never lets an allow rule match in a
 * Bash command: a compound command, a substitution, a redirection. A rule built from such a
 * command would be stored and never used; and `*` would turn the exact command into a glob.
 */
const BASH_NOT_EXACT = /[;&|`$<>()*\n\r]/;

/**
 * The narrowest rule that allows this very call again: the exact command, the exact file, the
 * host of a URL, or the tool itself when it takes no content rules (an MCP tool, WebSearch).
 * Null when no rule short of the whole tool would do: "Always allow" must never widen a
 * one-off call into allowing every Bash command.
 */
export function narrowestRule(toolName: string, input: Record<string, unknown>): string | null {
  const s = (k: string) => (typeof input[k] === "string" ? (input[k] as string) : null);
  // Claude Code's rule content cannot hold an unbalanced ")" or a line break safely.
  const exact = (rule: string, content: string | null) => (content && !content.includes(")") && !content.includes("\n") ? `${rule}(${content})` : null);
  switch (toolName) {
    case "Bash": {
      const command = s("command")?.trim() ?? null;
      return command && !BASH_NOT_EXACT.test(command) ? exact("Bash", command) : null;
    }
    case "Edit":
    case "Write":
    case "MultiEdit":
    case "Read": {
      const p = s("file_path");
      return p && p.startsWith("/") && !p.includes("*") ? exact(toolName, `/${p}`) : null;
    }
    case "NotebookEdit": {
      const p = s("notebook_path");
      return p && p.startsWith("/") && !p.includes("*") ? exact("Edit", `/${p}`) : null;
    }
    case "WebFetch": {
      const url = s("url");
      try {
        return url ? `WebFetch(domain:${new URL(url).hostname})` : null;
      } catch {
        return null;
      }
    }
    default:
      return toolName;
  }
}
