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
 * The narrowest rule that allows this very call again: the exact command, the exact file, the
 * host of a URL, or the tool itself when it has no content rules.
 */
export function narrowestRule(toolName: string, input: Record<string, unknown>): string {
  const s = (k: string) => (typeof input[k] === "string" ? (input[k] as string) : null);
  // Claude Code's rule content cannot hold an unbalanced ")" safely: fall back to the tool.
  const wrap = (content: string | null) => (content && !content.includes(")") && !content.includes("\n") ? `${toolName}(${content})` : toolName);
  switch (toolName) {
    case "Bash":
      return wrap(s("command"));
    case "Edit":
    case "Write":
    case "MultiEdit":
    case "Read": {
      const p = s("file_path");
      return wrap(p && p.startsWith("/") ? `/${p}` : null);
    }
    case "NotebookEdit": {
      const p = s("notebook_path");
      return p && p.startsWith("/") ? `Edit(/${p})` : toolName;
    }
    case "WebFetch": {
      const url = s("url");
      try {
        return url ? `WebFetch(domain:${new URL(url).hostname})` : toolName;
      } catch {
        return toolName;
      }
    }
    default:
      return toolName;
  }
}
