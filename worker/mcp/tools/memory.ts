/** Memory tools (docs/loops.md): the agent keeps its own notes in the channel's memory. Same domain functions as /api/channels/:id/memory. */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { AppendMemory, Memory, MemoryKind, SetMemory } from "../../../protocol/api.ts";
import type { DomainContext } from "../../domain/context.ts";
import { appendMemory, getMemory, setMemory } from "../../domain/memory.ts";
import { guard, structured } from "../result.ts";
import { ChannelArgs, targetChannel, type McpScope } from "../scope.ts";

const Kind = MemoryKind.describe("persistent: kept across iterations and loops; working: cleared when a loop iteration ends.");

const show = (m: Memory): string => `persistent memory:\n${m.persistent || "(empty)"}\n\nworking memory:\n${m.working || "(empty)"}`;

export function registerMemoryTools(server: McpServer, ctx: DomainContext, scope: McpScope): void {
  server.registerTool(
    "memory_get",
    {
      title: "Read memory",
      description: "Read the channel's persistent and working memory.",
      inputSchema: { ...ChannelArgs },
      outputSchema: Memory.shape,
      annotations: { readOnlyHint: true },
    },
    guard("memory_get", async (args) => {
      const memory = await getMemory(ctx, await targetChannel(ctx, scope, args));
      return structured(show(memory), memory);
    }),
  );

  server.registerTool(
    "memory_set",
    {
      title: "Replace memory",
      description: "Replace the channel's persistent or working memory with this text (empty text clears it).",
      inputSchema: { kind: Kind, text: SetMemory.shape.text, ...ChannelArgs },
      outputSchema: Memory.shape,
    },
    guard("memory_set", async (args) => {
      const memory = await setMemory(ctx, await targetChannel(ctx, scope, args), args.kind, args.text);
      return structured(`${args.kind} memory set (${memory[args.kind].length} characters).`, memory);
    }),
  );

  server.registerTool(
    "memory_append",
    {
      title: "Add to memory",
      description: "Add a line to the channel's persistent or working memory.",
      inputSchema: { kind: Kind, text: AppendMemory.shape.text, ...ChannelArgs },
      outputSchema: Memory.shape,
    },
    guard("memory_append", async (args) => {
      const memory = await appendMemory(ctx, await targetChannel(ctx, scope, args), args.kind, args.text);
      return structured(`Added to ${args.kind} memory (${memory[args.kind].length} characters).`, memory);
    }),
  );
}
