/**
 * Permission tools (issue 13): set a channel's policy, and decide on a run's held call. Same
 * domain functions as PUT /api/channels/:id/policy and POST /api/runs/:id/approval. An agent's
 * own run token is refused by both: it may not lift its limits or approve its own calls.
 */
import { z } from "zod";
import { Run } from "../../../protocol/api.ts";
import { ApprovalRequest, PermissionPolicy, SetPolicy } from "../../../protocol/policy.ts";
import { choiceWord, decideApproval } from "../../../core/domain/approvals.ts";
import { setChannelPolicy } from "../../../core/domain/policy-store.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";

export const approvalTools: LoopTool[] = [
  defineTool(
    "set_policy",
    {
      title: "Set the permission policy",
      description:
        "Replace the channel's permission policy. mode auto: every tool runs; ask: tools matching an allow rule run, deny rules refuse, everything else waits for a person's approval; read-only: Bash and edits are refused. Rules use Claude Code's syntax: Bash(npm test:*), Edit(src/**), Read, WebFetch(domain:example.com).",
      inputSchema: { ...SetPolicy.shape, ...ChannelArgs },
      outputSchema: PermissionPolicy.shape,
    },
    async ({ ctx, scope }, args) => {
      const { channel_id, dir_path, ...policy } = args;
      const channel = await targetChannel(ctx, scope, { channel_id, dir_path });
      const saved = (await setChannelPolicy(ctx, channel, SetPolicy.parse(policy))).permission_policy;
      return structured(`Channel ${channel} is now in ${saved.mode} mode (${saved.allow.length} allow, ${saved.deny.length} deny rules).`, saved);
    },
  ),

  defineTool(
    "decide_approval",
    {
      title: "Decide on a held tool call",
      description:
        "Approve, deny or always allow the tool call a run is waiting on (status waiting_approval; get_run shows pending_approval). always_allow also adds a rule (the narrowest one for the call, or `rule`) to the policy; a call no exact rule covers (a compound Bash command, a relative path) needs `rule` or a plain approve. The run then resumes.",
      inputSchema: { run_id: z.number().int().positive().describe("The waiting run's id."), ...ApprovalRequest.shape },
      outputSchema: { run: Run, duplicate: z.boolean() },
    },
    async ({ ctx }, { run_id, ...req }) => {
      const result = await decideApproval(ctx, run_id, ApprovalRequest.parse(req));
      const what = result.duplicate ? `already ${choiceWord(req.decision)}` : `${choiceWord(req.decision)}; it resumes`;
      return structured(`Run ${run_id}'s held call: ${what}.`, { ...result });
    },
  ),
];
