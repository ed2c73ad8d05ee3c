/**
 * /loop policy (issue 13): with no options it shows the channel's permission policy (anyone);
 * with options an owner changes it: the mode, one rule added to allow or deny, one rule
 * removed, the approval timeout, whether members may approve.
 */
import type { PermissionPolicy } from "../../../protocol/policy.ts";
import { ownersOnly } from "../access.ts";
import { setChannelPolicy } from "../../../core/domain/policy-store.ts";
import { policyOf } from "../../../core/domain/policy.ts";
import { inlineCode } from "../../../core/discord/format.ts";
import { ephemeral, message } from "../reply.ts";
import type { CommandSpec } from "./types.ts";

const MODE_WORDS: Record<PermissionPolicy["mode"], string> = {
  auto: "**auto**: every tool runs (deny rules still refuse)",
  ask: "**ask**: allow rules run, deny rules refuse, everything else waits for an owner's click",
  "read-only": "**read-only**: Bash and file edits are refused; everything else runs",
};

const rules = (list: string[]) => (list.length ? list.map(inlineCode).join(", ") : "none");

export function policyText(p: PermissionPolicy): string {
  return [
    `🛡️ Mode ${MODE_WORDS[p.mode]}`,
    `✅ Allow: ${rules(p.allow)}`,
    `⛔ Deny: ${rules(p.deny)}`,
    `⏳ Undecided calls are denied after ${inlineCode(p.approval_timeout)}; ${p.members_can_approve ? "members and owners" : "owners"} may decide.`,
  ].join("\n");
}

export const policy: CommandSpec<"policy"> = {
  // Anyone may look; changing it is checked below, once we know whether anything changes.
  owners: null,
  async run({ access, options }) {
    const current = policyOf(access.channel.permissionPolicy);
    const changes = Object.values(options).some((v) => v !== undefined);
    if (!changes) return ephemeral(`**Permission policy**\n${policyText(current)}\n-# Owners change it with \`/loop policy\` options.`);
    if (!access.isOwner) return ephemeral(ownersOnly(access, "change the permission policy"));

    const next: PermissionPolicy = { ...current, allow: [...current.allow], deny: [...current.deny] };
    if (options.mode) next.mode = options.mode;
    if (options.remove) {
      next.allow = next.allow.filter((r) => r !== options.remove);
      next.deny = next.deny.filter((r) => r !== options.remove);
    }
    if (options.allow && !next.allow.includes(options.allow)) next.allow.push(options.allow);
    if (options.deny && !next.deny.includes(options.deny)) next.deny.push(options.deny);
    if (options.timeout) next.approval_timeout = options.timeout;
    if (options.members_can_approve !== undefined) next.members_can_approve = options.members_can_approve;
    const saved = await setChannelPolicy(access.ctx, access.channel, next);
    return message(`🛡️ Policy updated by <@${access.userId}>\n${policyText(saved.permission_policy)}`);
  },
};
