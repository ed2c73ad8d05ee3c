/**
 * `loop import`: the original Loop's channels (Discord ids, directories, sessions), its
 * scheduled tasks (schedule, type, prompt, enabled, template name, auto_delete_sec,
 * worktree options) and its config's task_templates, brought over through the REST API with
 * an admin token, so it works against a deployed Worker.
 *
 * Idempotent: every item is first looked up in what the Worker already has (a channel by
 * its directory, a task by channel + type + prompt + template name, a template by name and
 * content), and only what is missing is written. With dryRun nothing is written: the plan
 * printed is exactly what a real run would do. Whatever cannot come over is reported with
 * its reason, never silently dropped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { Channel, Task, Template, TemplateName, type CreateTask, type PutTemplate } from "../../protocol/api.ts";
import { ApiError, type ApiClient } from "../api-client.ts";
import { parseGoTime, type OriginalData, type OriginalTask } from "./original-db.ts";

/** The original config's task_templates entries (internal/config TaskTemplate). */
export const OriginalTemplate = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  schedule: z.string().optional(),
  type: z.string(),
  prompt: z.string().optional(),
  prompt_path: z.string().optional(),
  auto_delete_sec: z.number().int().optional(),
});
export type OriginalTemplate = z.infer<typeof OriginalTemplate>;

export type Outcome = "create" | "update" | "unchanged" | "skip";
export interface Step {
  kind: "channel" | "session" | "task" | "template";
  what: string;
  outcome: Outcome;
  /** Why it was skipped, or what was done. */
  detail?: string;
}

export interface ImportOptions {
  dryRun: boolean;
  /** The time zone the original read cron schedules in (it used the daemon host's). */
  tz: string;
  /** ~/.loop of the original, where prompt_path templates live (templates/<path>). */
  loopDir: string;
  now?: number;
}

const SNOWFLAKE = /^\d{17,20}$/;
const short = (s: string) => JSON.stringify(s.length > 50 ? `${s.slice(0, 50)}…` : s);
const taskKey = (t: { type: string; prompt: string; template_name: string | null }) => `${t.type}\n${t.template_name ?? ""}\n${t.prompt.trim()}`;

export async function importOriginal(api: ApiClient, data: OriginalData, templates: OriginalTemplate[], opts: ImportOptions): Promise<Step[]> {
  const steps: Step[] = [];
  const now = opts.now ?? Date.now();
  const existing = (await api.request("GET", "/api/channels", z.object({ channels: z.array(Channel) }))).data.channels;
  const byDir = new Map(existing.filter((c) => c.dir_path).map((c) => [c.dir_path!, c]));
  const byDiscord = new Map(existing.filter((c) => c.discord_channel_id).map((c) => [c.discord_channel_id!, c]));
  /** Original channel id (Discord or local) → the Loop channel it became (null in a dry run that would create it). */
  const imported = new Map<string, Channel | null>();

  for (const ch of data.channels) {
    const what = `${ch.name || ch.channel_id} (${ch.dir_path || "no directory"})`;
    const skip = (detail: string) => steps.push({ kind: "channel", what, outcome: "skip", detail });
    if (ch.platform && ch.platform !== "discord" && ch.platform !== "local") {
      skip(`a ${ch.platform} channel: Loop on Cloudflare speaks Discord only`);
      continue;
    }
    if (ch.parent_id) {
      skip("a thread: Loop makes its channel again the first time someone talks in it (its session stays behind)");
      continue;
    }
    if (!ch.active) {
      skip("inactive in the original");
      continue;
    }
    if (!ch.dir_path) {
      skip("no directory: bind one with /loop dir after the import");
      continue;
    }
    const discordId = SNOWFLAKE.test(ch.channel_id) ? ch.channel_id : null;
    const found = byDir.get(ch.dir_path) ?? (discordId ? byDiscord.get(discordId) : undefined);
    if (found && discordId && found.discord_channel_id && found.discord_channel_id !== discordId) {
      skip(`${ch.dir_path} is already bound to another Discord channel (${found.discord_channel_id}) in Loop`);
      continue;
    }
    let channel: Channel | null = found && found.dir_path === ch.dir_path ? found : null;
    if (channel) steps.push({ kind: "channel", what, outcome: "unchanged", detail: channel.id });
    else if (opts.dryRun) steps.push({ kind: "channel", what, outcome: "create", detail: discordId ? `Discord channel ${discordId}` : "a directory channel" });
    else {
      try {
        const { data: made } = await api.request("POST", "/api/channels", Channel, { dir_path: ch.dir_path, ...(ch.name ? { name: ch.name.slice(0, 100) } : {}), ...(discordId ? { channel_id: discordId } : {}) });
        channel = made;
        steps.push({ kind: "channel", what, outcome: "create", detail: made.id });
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err;
        skip(err.message);
        continue;
      }
    }
    imported.set(ch.channel_id, channel);

    if (ch.session_id) {
      const current = channel?.session_id ?? null;
      const sWhat = `${what}: session ${ch.session_id}`;
      if (current === ch.session_id) steps.push({ kind: "session", what: sWhat, outcome: "unchanged" });
      else if (current) steps.push({ kind: "session", what: sWhat, outcome: "skip", detail: `the channel already has session ${current} in Loop` });
      else if (opts.dryRun) steps.push({ kind: "session", what: sWhat, outcome: "create" });
      else {
        await api.request("PATCH", `/api/channels/${encodeURIComponent(channel!.id)}`, Channel, { session_id: ch.session_id });
        steps.push({ kind: "session", what: sWhat, outcome: "create", detail: "the next run resumes it (if the runner host has the session's files)" });
      }
    }
  }

  const tasksOf = new Map<string, Set<string>>();
  for (const t of data.tasks) {
    const what = `task #${t.id} ${t.type} ${short(t.prompt || t.workflow_name || t.bash_script)}`;
    const skip = (detail: string) => steps.push({ kind: "task", what, outcome: "skip", detail });
    if (!imported.has(t.channel_id)) {
      skip(`its channel ${t.channel_id} was not imported (see above)`);
      continue;
    }
    if (t.workflow_name) {
      skip(`runs workflow ${t.workflow_name}: workflows are not part of Loop on Cloudflare`);
      continue;
    }
    if (t.bash_script.trim()) {
      skip("runs a bash script, not a prompt: bash tasks are not part of Loop on Cloudflare (ask the agent to run the script in a prompt instead)");
      continue;
    }
    if (!t.prompt.trim()) {
      skip("it has no prompt");
      continue;
    }
    const body = taskBody(t, opts.tz, now);
    if ("skip" in body) {
      skip(body.skip);
      continue;
    }
    const channel = imported.get(t.channel_id)!;
    let keys = channel ? tasksOf.get(channel.id) : new Set<string>();
    if (!keys && channel) {
      const { data: list } = await api.request("GET", `/api/tasks?channel_id=${encodeURIComponent(channel.id)}`, z.object({ tasks: z.array(Task) }));
      keys = new Set(list.tasks.map(taskKey));
      tasksOf.set(channel.id, keys);
    }
    const key = taskKey({ type: t.type, prompt: t.prompt, template_name: t.template_name || null });
    if (keys!.has(key)) {
      steps.push({ kind: "task", what, outcome: "unchanged" });
      continue;
    }
    keys!.add(key);
    if (opts.dryRun) {
      steps.push({ kind: "task", what, outcome: "create", detail: t.enabled ? undefined : "disabled, as in the original" });
      continue;
    }
    try {
      const { data: made } = await api.request("POST", "/api/tasks", Task, { ...body.task, channel_id: channel!.id });
      if (!t.enabled) await api.request("PATCH", `/api/tasks/${made.id}`, Task, { enabled: false });
      steps.push({ kind: "task", what, outcome: "create", detail: `#${made.id}${t.enabled ? "" : " (disabled)"}` });
    } catch (err) {
      if (!(err instanceof ApiError) || err.status >= 500) throw err;
      keys!.delete(key);
      skip(err.message);
    }
  }

  const have = new Map((await api.request("GET", "/api/templates", z.object({ templates: z.array(Template) }))).data.templates.map((t) => [t.name, t]));
  for (const raw of templates) {
    const what = `template ${raw.name}`;
    const skip = (detail: string) => steps.push({ kind: "template", what, outcome: "skip", detail });
    if (!TemplateName.safeParse(raw.name).success) {
      skip("its name is not lowercase letters, digits, - and _ (rename it in the config and import again)");
      continue;
    }
    const put = templateBody(raw, opts.loopDir);
    if ("skip" in put) {
      skip(put.skip);
      continue;
    }
    const current = have.get(raw.name);
    const same = current && current.type === put.type && current.schedule === put.schedule && current.prompt === put.prompt && current.description === put.description && current.auto_delete_sec === put.auto_delete_sec;
    if (same) {
      steps.push({ kind: "template", what, outcome: "unchanged" });
      continue;
    }
    const outcome = current ? "update" : "create";
    if (!opts.dryRun) {
      try {
        await api.request("PUT", `/api/templates/${raw.name}`, Template, put);
      } catch (err) {
        if (!(err instanceof ApiError) || err.status >= 500) throw err;
        skip(err.message);
        continue;
      }
    }
    steps.push({ kind: "template", what, outcome });
  }
  return steps;
}

/** A task as POST /api/tasks takes it, or why it cannot come over. */
function taskBody(t: OriginalTask, tz: string, now: number): { task: Omit<CreateTask, "channel_id"> } | { skip: string } {
  const options = {
    ...(t.template_name ? { template_name: t.template_name } : {}),
    auto_delete_sec: Math.max(0, t.auto_delete_sec),
    worktree: t.worktree,
    // The original sets origin_branch on any task; here it belongs to worktree tasks only.
    ...(t.worktree ? { origin_branch: t.origin_branch || null, update_before_run: t.update_before_run } : {}),
  };
  const base = { prompt: t.prompt, ...options };
  switch (t.type) {
    case "cron":
      return { task: { ...base, type: "cron", schedule: t.schedule, tz: tz === "UTC" ? null : tz } };
    case "interval":
      return { task: { ...base, type: "interval", schedule: t.schedule } };
    case "manual":
      return { task: { ...base, type: "manual", schedule: "" } };
    case "once": {
      const at = parseGoTime(t.next_run_at) ?? parseGoTime(t.schedule);
      if (at === null) return { skip: `its time ${t.schedule} cannot be read` };
      if (at <= now) return { skip: `a once task whose time (${new Date(at).toISOString()}) has passed` };
      return { task: { ...base, type: "once", schedule: new Date(at).toISOString() } };
    }
    default:
      return { skip: `type ${t.type} is not one Loop knows` };
  }
}

function templateBody(t: OriginalTemplate, loopDir: string): (PutTemplate & { description: string; auto_delete_sec: number }) | { skip: string } {
  let prompt = t.prompt ?? "";
  if (t.prompt && t.prompt_path) return { skip: "it has both prompt and prompt_path (the original refuses that too)" };
  if (!prompt && t.prompt_path) {
    const file = join(loopDir, "templates", t.prompt_path);
    try {
      prompt = readFileSync(file, "utf8");
    } catch (err) {
      return { skip: `prompt_path ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` };
    }
  }
  if (!prompt.trim()) return { skip: "it has no prompt" };
  if (!["cron", "interval", "once", "manual"].includes(t.type)) return { skip: `type ${t.type} is not one Loop knows` };
  return {
    description: (t.description ?? "").slice(0, 500),
    schedule: t.type === "manual" ? "" : (t.schedule ?? ""),
    type: t.type as PutTemplate["type"],
    // The Worker stores prompts trimmed; the same here, so a second import finds it unchanged.
    prompt: prompt.trim(),
    tz: null,
    auto_delete_sec: Math.max(0, t.auto_delete_sec ?? 0),
  };
}

/** The plan or report, one line per item, then the counts. */
export function formatSteps(steps: Step[], dryRun: boolean): string {
  const verb: Record<Outcome, string> = dryRun
    ? { create: "would create", update: "would update", unchanged: "already there", skip: "skipped" }
    : { create: "created", update: "updated", unchanged: "already there", skip: "skipped" };
  const lines = steps.map((s) => `${verb[s.outcome].padEnd(13)} ${s.kind.padEnd(8)} ${s.what}${s.detail ? `: ${s.detail}` : ""}`);
  const count = (o: Outcome) => steps.filter((s) => s.outcome === o).length;
  const summary = dryRun
    ? `plan: ${count("create")} to create, ${count("update")} to update, ${count("unchanged")} already there, ${count("skip")} skipped (dry run: nothing was written)`
    : `done: ${count("create")} created, ${count("update")} updated, ${count("unchanged")} already there, ${count("skip")} skipped`;
  lines.push("", summary);
  return lines.join("\n");
}
