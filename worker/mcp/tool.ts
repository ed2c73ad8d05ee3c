/**
 * One MCP tool, defined once per isolate: its name, descriptions, input and output schemas
 * (zod, and the JSON Schema tools/list shows) and what it does for a call. Nothing here
 * depends on the request; a call gets the request's DomainContext and McpScope as arguments.
 *
 * Why not McpServer.registerTool per request: registering ~25 tools rebuilt every zod schema
 * (each .describe() clones one) and tools/list converted them all to JSON Schema again, on
 * every request: bench/cpu measured 15 ms of CPU for a tools/list, more than the Workers Free
 * plan allows for a whole request (issue 19). The table holds the z.object McpServer would
 * build from the same shape, so validation is unchanged.
 */
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/server";
import { z } from "zod";
import type { DomainContext } from "../../core/domain/context.ts";
import { guard } from "./result.ts";
import type { McpScope } from "./scope.ts";

/** What a call may use: who is asking (per request) and the connection's default channel. */
export interface ToolCall {
  ctx: DomainContext;
  scope: McpScope;
}

export interface LoopTool {
  name: string;
  title: string;
  description: string;
  input: z.ZodObject;
  output: z.ZodObject | undefined;
  annotations: ToolAnnotations | undefined;
  /** Runs a call with arguments already validated against `input`; refusals come back as tool errors (guard). */
  run(call: ToolCall, args: unknown): Promise<CallToolResult>;
}

interface ToolDefinition<In extends z.ZodRawShape> {
  title: string;
  description: string;
  inputSchema: In;
  outputSchema?: z.ZodRawShape;
  annotations?: ToolAnnotations;
}

/** A tool for the table in server.ts; the handler's arguments are typed from inputSchema. */
export function defineTool<In extends z.ZodRawShape>(
  name: string,
  def: ToolDefinition<In>,
  handler: (call: ToolCall, args: z.output<z.ZodObject<In>>) => Promise<CallToolResult>,
): LoopTool {
  return {
    name,
    title: def.title,
    description: def.description,
    input: z.object(def.inputSchema),
    output: def.outputSchema ? z.object(def.outputSchema) : undefined,
    annotations: def.annotations,
    run: guard(name, (call: ToolCall, args: unknown) => handler(call, args as z.output<z.ZodObject<In>>)),
  };
}
