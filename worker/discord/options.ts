/**
 * Each subcommand's options, validated with the same schemas the REST API uses (a prompt,
 * a schedule or a template name means the same thing whichever way it arrives). A bad
 * option throws an AppError naming it; the interaction answers it with an example.
 */
import { z } from "zod";
import { CreateRun, CreateTask, EnsureChannel, MemoryKind, SetMemory, StartLoop, TemplateName, UpdateTask } from "../../protocol/api.ts";
import type { Subcommand } from "../../protocol/discord-commands.ts";
import { Duration, PermissionMode, PermissionRule } from "../../protocol/policy.ts";
import { PutBudget, SpendWindow } from "../../protocol/spend.ts";
import { parseWith } from "../http/validate.ts";

const TaskId = z.coerce.number({ error: "task_id must be a task number, e.g. 12" }).int().positive("task_id must be a task number, e.g. 12");
const UserId = z.string().regex(/^\d{17,20}$/, "user must be a Discord user");
const none = z.object({});

const SCHEMAS = {
  ask: z.object({ prompt: CreateRun.shape.prompt }),
  stop: none,
  schedule: CreateTask.omit({ channel_id: true, template_name: true }),
  tasks: none,
  task: z.object({ task_id: TaskId, run: z.boolean().default(false) }),
  cancel: z.object({ task_id: TaskId }),
  toggle: z.object({ task_id: TaskId }),
  // task_id is read apart so the rest can go through UpdateTask and its "nothing to change" rule.
  edit: z.object({ task_id: TaskId }),
  status: none,
  dir: z.object({ path: EnsureChannel.shape.dir_path }),
  "template add": z.object({ name: TemplateName }),
  "template list": none,
  "session reset": none,
  "owner add": z.object({ user: UserId }),
  "owner remove": z.object({ user: UserId }),
  "owner list": none,
  // Discord's option names, mapped onto StartLoop's (monitor → monitor_command) by the handler.
  loop: z.object({
    prompt: StartLoop.shape.prompt,
    max_iterations: StartLoop.shape.max_iterations,
    every: StartLoop.shape.every,
    until: StartLoop.shape.until,
    monitor: StartLoop.shape.monitor_command,
  }),
  "memory show": none,
  "memory set": z.object({ kind: MemoryKind, text: SetMemory.shape.text }),
  "memory clear": z.object({ kind: MemoryKind.optional() }),
  policy: z.object({
    mode: PermissionMode.optional(),
    allow: PermissionRule.optional(),
    deny: PermissionRule.optional(),
    remove: z.string().trim().min(1).max(500).optional(),
    timeout: Duration.optional(),
    members_can_approve: z.boolean().optional(),
  }),
  usage: z.object({ period: SpendWindow.optional() }),
  // The caps' own schema (0–1e6 USD), under the REST field names, so errors name the same field.
  budget: z.object({
    daily_usd: PutBudget.shape.daily_usd,
    monthly_usd: PutBudget.shape.monthly_usd,
    clear: z.enum(["daily", "monthly", "both"], { error: "must be daily, monthly or both" }).optional(),
  }),
} satisfies Record<Subcommand, z.ZodType>;

export type Options<P extends Subcommand> = z.infer<(typeof SCHEMAS)[P]>;

/** The option names a subcommand reads, so a test can hold them to the registered definition. */
export function optionNames(path: Subcommand): string[] {
  const names = Object.keys(SCHEMAS[path].shape);
  return path === "edit" ? [...names, "schedule", "type", "prompt", "tz", "auto_delete_sec", "worktree", "origin_branch", "update_before_run"] : names;
}

export function parseOptions<P extends Subcommand>(path: P, raw: Record<string, unknown>): Options<P> {
  return parseWith(SCHEMAS[path], raw, "options") as Options<P>;
}

/** The edit subcommand's changes, as PATCH /api/tasks/:id takes them. */
export function parseEdit(raw: Record<string, unknown>): UpdateTask {
  const { task_id: _id, ...rest } = raw;
  return parseWith(UpdateTask, rest, "options");
}
