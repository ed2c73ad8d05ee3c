/**
 * Loop's MCP server: the tools Claude uses to manage a channel's tasks and runs. It knows
 * nothing of HTTP; worker/routes/mcp.ts builds one per request (stateless) for the caller's
 * DomainContext, and every tool calls the same domain functions as REST.
 *
 * The tool table (TOOLS) and its tools/list answer are built once per isolate; a request
 * builds only a low-level Server whose two tool handlers close over its DomainContext and
 * McpScope. The handlers do what McpServer's do (same schemas, same validation), with the
 * v1 SDK's wording of validation errors ("… at <path>"), which the model has been reading
 * since the first release: see tool.ts for why McpServer itself is not used. To add a tool,
 * define it with defineTool in tools/ and list its array below.
 */
import { Server, type CallToolResult, type Tool } from "@modelcontextprotocol/server";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/server/validators/cf-worker";
import { z } from "zod";
import { VERSION } from "../../core/env.ts";
import type { DomainContext } from "../../core/domain/context.ts";
import type { McpScope } from "./scope.ts";
import type { LoopTool, ToolCall } from "./tool.ts";
import { approvalTools } from "./tools/approvals.ts";
import { loopTools } from "./tools/loops.ts";
import { memoryTools } from "./tools/memory.ts";
import { messageTools } from "./tools/messages.ts";
import { runTools } from "./tools/runs.ts";
import { spendTools } from "./tools/spend.ts";
import { taskTools } from "./tools/tasks.ts";

const INSTRUCTIONS = `Loop runs Claude agents on channels (a project directory, usually with a Discord channel) and schedules tasks for them.
Inside a Loop run, every tool acts on the run's own channel. With a token that can see several channels, pass channel_id or dir_path.
Schedules: cron (5 fields, optional IANA tz), interval ("30m", "1h30m"), once (RFC 3339 time with offset, or "in 10m").
Loops repeat a prompt as runs until done: inside a loop iteration, call loop_done when the work is finished; memory_* tools keep notes across iterations.
Spend: get_usage reports tokens and cost (per day, channel, task or model); get_budget and set_budget read and set a channel's daily and monthly USD caps.`;

/** Every tool, in the order tools/list shows them. */
export const TOOLS: readonly LoopTool[] = [...taskTools, ...runTools, ...messageTools, ...loopTools, ...memoryTools, ...approvalTools, ...spendTools];

const byName = new Map(TOOLS.map((t) => [t.name, t]));
if (byName.size !== TOOLS.length) throw new Error("MCP tool names must be unique");

/** McpServer registers every tool with this execution hint; tools/list shows it. */
const EXECUTION = { taskSupport: "forbidden" } as const;

/**
 * The capabilities every era sees. The tool table never changes while a Worker version runs,
 * so listChanged is false: a 2026-07-28 client (Claude Code) then opens no
 * subscriptions/listen stream, and a run's handshake is server/discover + tools/list.
 */
const CAPABILITIES = { tools: { listChanged: false } };

/** The JSON Schema dialect of the listed schemas: McpServer's (and the spec's default since 2025-11-25). */
const JSON_SCHEMA_TARGET = "draft-2020-12";

let listed: Tool[] | undefined;

/** The tools/list answer, converted from zod once per isolate (the conversion is the costly part). */
function listTools(): Tool[] {
  listed ??= TOOLS.map((t) => ({
    name: t.name,
    title: t.title,
    description: t.description,
    inputSchema: z.toJSONSchema(t.input, { target: JSON_SCHEMA_TARGET, io: "input" }) as Tool["inputSchema"],
    annotations: t.annotations,
    execution: EXECUTION,
    ...(t.output ? { outputSchema: z.toJSONSchema(t.output, { target: JSON_SCHEMA_TARGET, io: "output" }) as Tool["outputSchema"] } : {}),
  }));
  return listed;
}

/** A refused call; its message becomes the tool error's text. */
class CallRefused extends Error {}

/** An issue's path as the v1 SDK wrote it: `runs[0].status`. */
const dotPath = (path: readonly PropertyKey[]): string =>
  path.reduce<string>((acc, seg, i) => (i === 0 ? String(seg) : typeof seg === "number" ? `${acc}[${seg}]` : `${acc}.${String(seg)}`), "");

/** zod issues as the v1 SDK worded them: "<message> at <path>", one per line. */
function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.message} at ${dotPath(i.path)}` : i.message)).join("\n");
}

/** A call as McpServer runs one: validate the arguments, run, validate structured output. */
async function callTool(call: ToolCall, name: string, args: unknown): Promise<CallToolResult> {
  const tool = byName.get(name);
  if (!tool) throw new CallRefused(`Tool ${name} not found`);
  const input = await tool.input.safeParseAsync(args ?? {});
  if (!input.success) throw new CallRefused(`Input validation error: Invalid arguments for tool ${name}: ${issuesText(input.error)}`);
  const result = await tool.run(call, input.data);
  if (tool.output && !result.isError) {
    if (!result.structuredContent) throw new CallRefused(`Output validation error: Tool ${name} has an output schema but no structured content was provided`);
    const output = await tool.output.safeParseAsync(result.structuredContent);
    if (!output.success) throw new CallRefused(`Output validation error: Invalid structured content for tool ${name}: ${issuesText(output.error)}`);
  }
  return result;
}

/** Reused by every Server: the validator holds nothing per request. */
const validator = new CfWorkerJsonSchemaValidator();

export function buildMcpServer(ctx: DomainContext, scope: McpScope = {}): Server {
  const server = new Server(
    { name: "loop", version: VERSION },
    // Workers forbid eval, which the SDK's Ajv validator needs.
    { capabilities: CAPABILITIES, jsonSchemaValidator: validator, instructions: INSTRUCTIONS },
  );
  const call: ToolCall = { ctx, scope };
  server.setRequestHandler("tools/list", () => ({ tools: listTools() }));
  server.setRequestHandler("tools/call", async (request) => {
    try {
      return await callTool(call, request.params.name, request.params.arguments);
    } catch (err) {
      // As McpServer: a failed call is a tool error the model can read, not a JSON-RPC error.
      return { content: [{ type: "text", text: err instanceof Error ? err.message : String(err) }], isError: true };
    }
  });
  return server;
}
