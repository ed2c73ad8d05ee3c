/**
 * Tool results. Every tool handler runs inside `guard`, which turns an AppError (the
 * domain's typed refusal: not found, invalid schedule, …) into a tool error the model can
 * read and act on (isError: true), never a JSON-RPC failure. Anything else is a bug: it is
 * logged and answered with a generic tool error, so internals never leak into a prompt.
 */
import type { CallToolResult } from "@modelcontextprotocol/server";
import { AppError } from "../../core/errors.ts";
import { log } from "../../core/log.ts";

export function text(message: string): CallToolResult {
  return { content: [{ type: "text", text: message }] };
}

/** A result for tools with an outputSchema: the same data as text (for clients that only show text) and as structuredContent. */
export function structured(summary: string, data: Record<string, unknown>): CallToolResult {
  return {
    content: [{ type: "text", text: `${summary}\n${JSON.stringify(data)}` }],
    structuredContent: data,
  };
}

export function toolError(err: AppError): CallToolResult {
  return { content: [{ type: "text", text: `${err.code}: ${err.message}` }], isError: true };
}

export function guard<A extends unknown[]>(tool: string, fn: (...args: A) => Promise<CallToolResult>): (...args: A) => Promise<CallToolResult> {
  return async function guarded(...args: A): Promise<CallToolResult> {
    const started = Date.now();
    try {
      const result = await fn(...args);
      log.debug("mcp: tool call", { tool, ms: Date.now() - started });
      return result;
    } catch (err) {
      if (err instanceof AppError) {
        log.debug("mcp: tool refused", { tool, code: err.code, ms: Date.now() - started });
        return toolError(err);
      }
      log.error("mcp: tool failed", { tool, error: String(err), stack: (err as Error).stack });
      return { content: [{ type: "text", text: "internal: the tool failed unexpectedly; it has been logged." }], isError: true };
    }
  };
}
