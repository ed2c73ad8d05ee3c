/**
 * Task templates (the original's task_templates): reusable schedule + prompt pairs kept in
 * D1 and managed by admins. Adding one to a channel is idempotent: the same template twice
 * is a no-op that returns the task it made the first time.
 */
import { and, asc, eq } from "drizzle-orm";
import type { PutTemplate, Template, TaskWithPreview } from "../../protocol/api.ts";
import { tasks, templates, type TemplateRow } from "../db/schema.ts";
import { notFound } from "../errors.ts";
import { assertAdmin } from "./actor.ts";
import { loadChannel } from "./channels.ts";
import type { DomainContext } from "./context.ts";
import { canonicalSchedule, parseSchedule } from "./schedule-grammar.ts";
import { createTask, getTask } from "./tasks.ts";

const view = (t: TemplateRow): Template => ({
  name: t.name,
  description: t.description,
  schedule: t.schedule,
  type: t.type,
  tz: t.tz,
  prompt: t.prompt,
  auto_delete_sec: t.autoDeleteSec,
});

export async function listTemplates(ctx: DomainContext): Promise<Template[]> {
  return (await ctx.db.query.templates.findMany({ orderBy: asc(templates.name) })).map(view);
}

export async function putTemplate(ctx: DomainContext, name: string, input: PutTemplate): Promise<{ template: Template; created: boolean }> {
  assertAdmin(ctx.actor, "manage templates");
  // Validated now so a bad template fails here, not when someone adds it to a channel.
  // Once-times stay as written: "in 10m" means ten minutes after it is added.
  const parsed = parseSchedule(input, { now: Date.now(), minIntervalMs: ctx.cfg.minIntervalMs });
  const schedule = input.type === "once" ? input.schedule.trim() : canonicalSchedule(parsed);
  const now = Date.now();
  const existed = await ctx.db.query.templates.findFirst({ where: eq(templates.name, name) });
  const values = { description: input.description, schedule, type: input.type, tz: input.tz ?? null, prompt: input.prompt, autoDeleteSec: input.auto_delete_sec, updatedAt: now };
  const [row] = await ctx.db
    .insert(templates)
    .values({ name, ...values, createdAt: now })
    .onConflictDoUpdate({ target: templates.name, set: values })
    .returning();
  return { template: view(row!), created: !existed };
}

export async function deleteTemplate(ctx: DomainContext, name: string): Promise<void> {
  assertAdmin(ctx.actor, "manage templates");
  const gone = await ctx.db.delete(templates).where(eq(templates.name, name)).returning({ name: templates.name });
  if (!gone.length) throw notFound("template", name);
}

export async function addTemplateToChannel(
  ctx: DomainContext,
  channelId: string,
  name: string,
): Promise<{ task: TaskWithPreview; created: boolean }> {
  const channel = await loadChannel(ctx, channelId);
  const template = await ctx.db.query.templates.findFirst({ where: eq(templates.name, name) });
  if (!template) throw notFound("template", name);
  const existing = async () =>
    ctx.db.query.tasks.findFirst({ where: and(eq(tasks.channelId, channel.id), eq(tasks.templateName, name)) });
  const before = await existing();
  if (before) return { task: await getTask(ctx, before.id), created: false };
  try {
    const task = await createTask(
      ctx,
      {
        channel_id: channel.id,
        schedule: template.schedule,
        type: template.type,
        prompt: template.prompt,
        tz: template.tz,
        auto_delete_sec: template.autoDeleteSec,
        template_name: name,
      },
    );
    return { task, created: true };
  } catch (err) {
    // A concurrent add won the UNIQUE (channel_id, template_name) race: same outcome.
    const winner = await existing();
    if (winner) return { task: await getTask(ctx, winner.id), created: false };
    throw err;
  }
}
