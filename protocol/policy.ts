/**
 * Permission policies and approvals (issue 13): what a channel (or a task) lets its agent do
 * without asking, and the decisions people give on calls that were held for them. The Worker
 * stores and serves these shapes; the runner turns a policy into Claude Code settings and a
 * PreToolUse hook (runner/permission-hook.ts). zod only.
 *
 * Rules use Claude Code's own permission-rule syntax: `Tool` or `Tool(content)`, e.g.
 * `Read`, `Bash(npm test:*)`, `Bash(git log *)`, `Edit(src/**)`, `WebFetch(domain:example.com)`,
 * `mcp__loop__list_tasks`.
 */
import { z } from "zod";

/**
 * auto: every tool runs (today's behaviour, the default); deny rules still refuse.
 * ask: allow rules run, deny rules refuse, everything else waits for a person.
 * read-only: Bash and file edits are refused outright; everything else runs.
 */
export const PERMISSION_MODES = ["auto", "ask", "read-only"] as const;
export const PermissionMode = z.enum(PERMISSION_MODES);
export type PermissionMode = z.infer<typeof PermissionMode>;

/** The tools read-only mode refuses (Claude Code applies Edit rules to every file-writing tool; named anyway). */
export const READ_ONLY_DENY = ["Bash", "Edit", "Write", "MultiEdit", "NotebookEdit"] as const;

export const MAX_RULES = 100;
export const MAX_RULE_CHARS = 500;
/** A tool name, then optionally its content in parentheses: Claude Code's rule syntax. */
const RULE_SHAPE = /^[A-Za-z][A-Za-z0-9_-]*(\*|\(.+\))?$/s;

export const PermissionRule = z
  .string()
  .trim()
  .min(1)
  .max(MAX_RULE_CHARS, `a rule is at most ${MAX_RULE_CHARS} characters`)
  .regex(RULE_SHAPE, "a rule is a tool name, optionally with content in parentheses, e.g. Bash(npm test:*), Edit(src/**), Read");
export type PermissionRule = z.infer<typeof PermissionRule>;

/** Go-style duration as in the original's config (`24h`, `90m`, `1h30m`). */
export const Duration = z.string().regex(/^(\d+(\.\d+)?(h|m|s))+$/, "a duration such as 24h, 90m or 1h30m");

export const DEFAULT_APPROVAL_TIMEOUT = "24h";

export const PermissionPolicy = z.strictObject({
  mode: PermissionMode.default("auto"),
  allow: z.array(PermissionRule).max(MAX_RULES).default([]),
  deny: z.array(PermissionRule).max(MAX_RULES).default([]),
  /** How long a held call waits for a decision before it is denied with "no decision". */
  approval_timeout: Duration.default(DEFAULT_APPROVAL_TIMEOUT),
  /** Members (not only owners) may decide on held calls. */
  members_can_approve: z.boolean().default(false),
});
export type PermissionPolicy = z.infer<typeof PermissionPolicy>;
export type PermissionPolicyInput = z.input<typeof PermissionPolicy>;

/** A call Claude Code deferred (the result's `deferred_tool_use`). */
export const DeferredToolUse = z.object({
  id: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
  input: z.record(z.string(), z.unknown()),
});
export type DeferredToolUse = z.infer<typeof DeferredToolUse>;

/** What a person can answer; always_allow also adds a rule to the policy. */
export const APPROVAL_CHOICES = ["approve", "deny", "always_allow"] as const;
export const ApprovalChoice = z.enum(APPROVAL_CHOICES);
export type ApprovalChoice = z.infer<typeof ApprovalChoice>;

/** The decision the hook answers for one tool_use id when the run resumes. */
export const ToolDecision = z.object({
  tool_use_id: z.string().min(1).max(200),
  tool_name: z.string().min(1).max(200),
  behavior: z.enum(["allow", "deny"]),
  /** Shown to the model with a denial. */
  reason: z.string().max(1000).nullable(),
});
export type ToolDecision = z.infer<typeof ToolDecision>;

/** A run's held call as the API shows it (`runs.pending_approval`). */
export const PendingApproval = z.object({
  /** Counts the run's deferrals from 1: a button from an older one is refused. */
  deferral: z.number().int().min(1),
  tool_use_id: z.string(),
  tool_name: z.string(),
  input: z.record(z.string(), z.unknown()),
  requested_at: z.string(),
  expires_at: z.string(),
});
export type PendingApproval = z.infer<typeof PendingApproval>;

export const SetPolicy = PermissionPolicy;

export const ApprovalRequest = z.strictObject({
  decision: ApprovalChoice,
  /** always_allow: the rule to add instead of the narrowest one for the call. */
  rule: PermissionRule.optional(),
  /** deny: told to the agent. */
  reason: z.string().trim().min(1).max(1000).optional(),
  /** The deferral this answers; when given and no longer current, 409. */
  deferral: z.number().int().min(1).optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequest>;
