/** send_message: post into the channel's Discord channel (the original's send_message; content, optional channel_id). */
import { z } from "zod";
import { postToChannel } from "../../../core/domain/messages.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";
import { MESSAGE_CONTENT_LIMIT } from "../../../protocol/discord-constants.ts";

export const messageTools: LoopTool[] = [
  defineTool(
    "send_message",
    {
      title: "Send a Discord message",
      description: "Post a message in the channel's Discord channel (mentions are not pinged).",
      inputSchema: {
        ...ChannelArgs,
        content: z
          .string()
          .trim()
          .min(1, "content is empty")
          // Refused rather than cut: Discord's limit, and a silently shortened message misleads.
          .max(MESSAGE_CONTENT_LIMIT, `content is longer than Discord's ${MESSAGE_CONTENT_LIMIT}-character limit`)
          .describe(`The message text (at most ${MESSAGE_CONTENT_LIMIT} characters).`),
      },
      outputSchema: { message_id: z.string() },
    },
    async ({ ctx, scope }, args) => {
      const sent = await postToChannel(ctx, await targetChannel(ctx, scope, args), args.content);
      return structured(`Message ${sent.message_id} sent.`, sent);
    },
  ),
];
