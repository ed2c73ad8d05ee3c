/**
 * Loop's MCP server: the tools Claude uses to manage a channel's tasks and runs. It knows
 * nothing of HTTP; worker/routes/mcp.ts builds one per request (stateless) for the caller's
 * DomainContext, and every tool calls the same domain functions as REST.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { VERSION } from "../env.ts";
import type { DomainContext } from "../domain/context.ts";
import type { McpScope } from "./scope.ts";
import { registerLoopTools } from "./tools/loops.ts";
import { registerMemoryTools } from "./tools/memory.ts";
import { registerApprovalTools } from "./tools/approvals.ts";
import { registerMessageTools } from "./tools/messages.ts";
import { registerRunTools } from "./tools/runs.ts";
import { registerSpendTools } from "./tools/spend.ts";
import { registerTaskTools } from "./tools/tasks.ts";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";

const INSTRUCTIONS = `Loop runs Claude agents on channels (a project directory, usually with a Discord channel) and schedules tasks for them.
Inside a Loop run, every tool acts on the run's own channel. With a token that can see several channels, pass channel_id or dir_path.
Schedules: cron (5 fields, optional IANA tz), interval ("30m", "1h30m"), once (RFC 3339 time with offset, or "in 10m").
Loops repeat a prompt as runs until done: inside a loop iteration, call loop_done when the work is finished; memory_* tools keep notes across iterations.
Spend: get_usage reports tokens and cost (per day, channel, task or model); get_budget and set_budget read and set a channel's daily and monthly USD caps.`;

export function buildMcpServer(ctx: DomainContext, scope: McpScope = {}): McpServer {
  const server = new McpServer(
    { name: "loop", version: VERSION },
    // Workers forbid eval, which the SDK's default (Ajv) validator needs.
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator(), instructions: INSTRUCTIONS },
  );
  registerTaskTools(server, ctx, scope);
  registerRunTools(server, ctx, scope);
  registerMessageTools(server, ctx, scope);
  registerLoopTools(server, ctx, scope);
  registerMemoryTools(server, ctx, scope);
  registerApprovalTools(server, ctx, scope);
  registerSpendTools(server, ctx, scope);
  return server;
}
