/**
 * Which channel a tool acts on. In order: the channel_id or dir_path argument; the
 * connection's default channel (the Loop-Channel header, set by `loop mcp --dir`); the
 * one channel the token can see (a run token, or a token scoped to a single channel, as
 * `loop onboard:local` mints). A token that sees more than one channel (admin, or
 * multi-channel) must name one. Visibility itself is checked by the domain functions:
 * another channel's id answers "not found", exactly as over REST.
 */
import { ChannelId, EnsureChannel } from "../../protocol/api.ts";
import { visibleChannels } from "../../core/domain/actor.ts";
import { loadChannelByDir } from "../../core/domain/channels.ts";
import type { DomainContext } from "../../core/domain/context.ts";
import { invalid } from "../../core/errors.ts";

/** The arguments every channel-level tool takes. */
export const ChannelArgs = {
  channel_id: ChannelId.optional().describe(
    "Loop channel id (ch_…) or Discord channel id. Optional inside a run or with a single-channel token.",
  ),
  // The same rule as POST /api/channels: an absolute path.
  dir_path: EnsureChannel.shape.dir_path
    .optional()
    .describe("Absolute project directory; resolves to the channel bound to it. Alternative to channel_id."),
};

export interface McpScope {
  /** The connection's default channel (Loop or Discord id), from the Loop-Channel header. */
  defaultChannelId?: string | undefined;
}

export async function targetChannel(
  ctx: DomainContext,
  scope: McpScope,
  args: { channel_id?: string | undefined; dir_path?: string | undefined },
): Promise<string> {
  if (args.channel_id && args.dir_path) throw invalid("give channel_id or dir_path, not both.", "channel_id");
  if (args.channel_id) return args.channel_id;
  if (args.dir_path) return (await loadChannelByDir(ctx, args.dir_path)).id;
  if (scope.defaultChannelId) return scope.defaultChannelId;
  const visible = visibleChannels(ctx.actor);
  if (visible?.length === 1) return visible[0]!;
  throw invalid(
    "channel_id is required: this token can see more than one channel, so name one with channel_id or dir_path.",
    "channel_id",
  );
}
