/**
 * Message components: the Stop buttons on a run's live message ("loop:stop:<run id>") and on a
 * loop's ("loop:stoploop:<loop id>"), and the approval buttons on a waiting run's
 * ("loop:approval:<run id>:<deferral>:<choice>", issue 13).
 */
import type { APIInteractionResponse } from "discord-api-types/v10";
import { APPROVAL_BUTTON_PREFIX, LOOP_STOP_BUTTON_PREFIX, STOP_BUTTON_PREFIX } from "../../protocol/discord-commands.ts";
import type { ApprovalChoice } from "../../protocol/policy.ts";
import { choiceWord, decideApproval, runPolicy } from "../../core/domain/approvals.ts";
import { loadRun } from "../../core/domain/runs.ts";
import { AppError } from "../../core/errors.ts";
import { stopLoopAs } from "./commands/loops.ts";
import type { Access } from "./access.ts";
import { stopRun } from "./commands/runs.ts";
import { ephemeral } from "./reply.ts";

const CHOICES: Record<string, ApprovalChoice> = { approve: "approve", deny: "deny", always: "always_allow" };

export async function handleComponent(customId: string, access: Access): Promise<APIInteractionResponse> {
  if (customId.startsWith(LOOP_STOP_BUTTON_PREFIX)) {
    const id = customId.slice(LOOP_STOP_BUTTON_PREFIX.length);
    if (/^\d{1,15}$/.test(id)) return stopLoopAs(access, Number(id));
  }
  if (customId.startsWith(STOP_BUTTON_PREFIX)) {
    const id = customId.slice(STOP_BUTTON_PREFIX.length);
    if (/^\d{1,15}$/.test(id)) return stopRun(access, Number(id));
  }
  if (customId.startsWith(APPROVAL_BUTTON_PREFIX)) {
    const m = /^(\d{1,15}):(\d{1,9}):(approve|deny|always)$/.exec(customId.slice(APPROVAL_BUTTON_PREFIX.length));
    if (m) return approvalClick(access, Number(m[1]), Number(m[2]), CHOICES[m[3]!]!);
  }
  return ephemeral("This button is not one Loop knows (is the message from an older version?).");
}

/** Owners decide; members too when the policy says so. Every refusal is ephemeral. */
async function approvalClick(access: Access, runId: number, deferral: number, decision: ApprovalChoice): Promise<APIInteractionResponse> {
  const run = await loadRun(access.ctx, runId);
  if (!access.isOwner && !(await runPolicy(access.ctx.db, run)).members_can_approve) {
    return ephemeral(`🔒 Only this channel's owners can decide on run #${runId}'s held call (\`/loop policy members_can_approve: true\` lets members too).`);
  }
  try {
    const { duplicate } = await decideApproval(access.ctx, runId, { decision, deferral });
    if (duplicate) return ephemeral(`Run #${runId}'s call was already ${choiceWord(decision)}.`);
    const rule = decision === "always_allow" ? " and the rule was added to the channel's policy" : "";
    return ephemeral(`${decision === "deny" ? "⛔" : "✅"} ${capital(choiceWord(decision))}${rule}: run #${runId} resumes in a fresh container.`);
  } catch (err) {
    if (err instanceof AppError && err.code === "stale_approval") {
      return ephemeral(`⌛ That button belongs to an earlier request of run #${runId}; use the buttons on its latest request.`);
    }
    if (err instanceof AppError && err.code === "not_waiting") return ephemeral(`⌛ ${err.message}`);
    if (err instanceof AppError && err.code === "no_narrow_rule") {
      return ephemeral(`♾️ ${err.message.replace(", or give the rule to add", "")} \`/loop policy allow:\` adds a rule of your choosing.`);
    }
    throw err;
  }
}

const capital = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
