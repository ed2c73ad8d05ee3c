/**
 * One MCP tool, defined once per isolate: its name, descriptions, input and output schemas
 * (zod, and the JSON Schema tools/list shows) and what it does for a call. Nothing here
 * depends on the request; a call gets the request's DomainContext and McpScope as arguments.
 *
 * Why not McpServer.registerTool per request: registering ~25 tools rebuilt every zod schema
 * (each .describe() clones one) and tools/list converted them all to JSON Schema again, on
 * every request: bench/cpu measured 15 ms of CPU for a tools/list, more than the Workers Free
 * plan allows for a whole request. The schemas are the same objects McpServer would build
 * (the SDK's objectFromShape), so validation and the listed JSON Schemas are unchanged.
 */
import { objectFromShape, type AnyObjectSchema, type ShapeOutput, type ZodRawShapeCompat } from "@modelcontextprotocol/sdk/server/zod-compat.js";
import type { CallToolResult, ToolAnnotations } from "@modelcontextprotocol/sdk/types.js";
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
  input: AnyObjectSchema;
  output: AnyObjectSchema | undefined;
  annotations: ToolAnnotations | undefined;
  /** Runs a call with arguments already validated against `input`; refusals come back as tool errors (guard). */
  run(call: ToolCall, args: unknown): Promise<CallToolResult>;
}

interface ToolDefinition<In extends ZodRawShapeCompat> {
  title: string;
  description: string;
  inputSchema: In;
  outputSchema?: ZodRawShapeCompat;
  annotations?: ToolAnnotations;
}

/** A tool for the table in server.ts; the handler's arguments are typed from inputSchema. */
export function defineTool<In extends ZodRawShapeCompat>(
  name: string,
  def: ToolDefinition<In>,
  handler: (call: ToolCall, args: ShapeOutput<In>) => Promise<CallToolResult>,
): LoopTool {
  return {
    name,
    title: def.title,
    description: def.description,
    input: objectFromShape(def.inputSchema),
    output: def.outputSchema ? objectFromShape(def.outputSchema) : undefined,
    annotations: def.annotations,
    run: guard(name, (call: ToolCall, args: unknown) => handler(call, args as ShapeOutput<In>)),
  };
}
