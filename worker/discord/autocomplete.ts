/**
 * Autocomplete for /loop's task_id (this channel's tasks) and template name options. It only
 * lists what the interaction's own channel may see, so it needs no owner check and no
 * channel row of its own: one D1 statement per answer (issue 15), through `Lists`.
 */
import type { APIApplicationCommandOptionChoice } from "discord-api-types/v10";
import type { Task, Template } from "../../protocol/api.ts";
import type { CommandCall } from "./interaction-payload.ts";
import { cutLine } from "../../core/text.ts";

/** Discord shows at most 25 choices, each name at most 100 characters. */
const MAX_CHOICES = 25;
const NAME_LIMIT = 100;

/** Where the choices come from: the channel's tasks, the templates. Each is one D1 statement. */
export interface Lists {
  tasks(): Promise<Task[]>;
  templates(): Promise<Template[]>;
}

export async function autocomplete(call: CommandCall, lists: Lists): Promise<APIApplicationCommandOptionChoice[]> {
  const typed = (call.focused?.value ?? "").trim().toLowerCase().replace(/^#/, "");
  if (call.focused?.name === "task_id") {
    const tasks = await lists.tasks();
    return tasks
      .filter((t) => !typed || String(t.id).startsWith(typed) || t.prompt.toLowerCase().includes(typed))
      .slice(0, MAX_CHOICES)
      .map((t) => ({ name: cutLine(`#${t.id} ${t.enabled ? "" : "(paused) "}${t.type} ${t.schedule} — ${t.prompt}`, NAME_LIMIT), value: t.id }));
  }
  if (call.focused?.name === "name" && call.path === "template add") {
    const templates = await lists.templates();
    return templates
      .filter((t) => !typed || t.name.includes(typed) || t.description.toLowerCase().includes(typed))
      .slice(0, MAX_CHOICES)
      .map((t) => ({ name: cutLine(t.description ? `${t.name} — ${t.description}` : t.name, NAME_LIMIT), value: t.name }));
  }
  return [];
}
