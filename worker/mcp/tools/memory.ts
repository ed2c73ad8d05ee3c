/** Memory tools (docs/loops.md): the agent keeps its own notes in the channel's memory. Same domain functions as /api/channels/:id/memory. */
import { AppendMemory, Memory, MemoryKind, SetMemory } from "../../../protocol/api.ts";
import { appendMemory, getMemory, setMemory } from "../../../core/domain/memory.ts";
import { structured } from "../result.ts";
import { ChannelArgs, targetChannel } from "../scope.ts";
import { defineTool, type LoopTool } from "../tool.ts";

const Kind = MemoryKind.describe("persistent: kept across iterations and loops; working: cleared when a loop iteration ends.");

const show = (m: Memory): string => `persistent memory:\n${m.persistent || "(empty)"}\n\nworking memory:\n${m.working || "(empty)"}`;

export const memoryTools: LoopTool[] = [
  defineTool(
    "memory_get",
    {
      title: "Read memory",
      description: "Read the channel's persistent and working memory.",
      inputSchema: { ...ChannelArgs },
      outputSchema: Memory.shape,
      annotations: { readOnlyHint: true },
    },
    async ({ ctx, scope }, args) => {
      const memory = await getMemory(ctx, await targetChannel(ctx, scope, args));
      return structured(show(memory), memory);
    },
  ),

  defineTool(
    "memory_set",
    {
      title: "Replace memory",
      description: "Replace the channel's persistent or working memory with this text (empty text clears it).",
      inputSchema: { kind: Kind, text: SetMemory.shape.text, ...ChannelArgs },
      outputSchema: Memory.shape,
    },
    async ({ ctx, scope }, args) => {
      const memory = await setMemory(ctx, await targetChannel(ctx, scope, args), args.kind, args.text);
      return structured(`${args.kind} memory set (${memory[args.kind].length} characters).`, memory);
    },
  ),

  defineTool(
    "memory_append",
    {
      title: "Add to memory",
      description: "Add a line to the channel's persistent or working memory.",
      inputSchema: { kind: Kind, text: AppendMemory.shape.text, ...ChannelArgs },
      outputSchema: Memory.shape,
    },
    async ({ ctx, scope }, args) => {
      const memory = await appendMemory(ctx, await targetChannel(ctx, scope, args), args.kind, args.text);
      return structured(`Added to ${args.kind} memory (${memory[args.kind].length} characters).`, memory);
    },
  ),
];
