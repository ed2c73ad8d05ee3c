/**
 * The remote MCP endpoint's wire details that both sides name: the Worker's route and the
 * `loop mcp` bridge. The messages themselves are MCP's (the SDK's schemas).
 */

/** Where the Worker serves MCP (Streamable HTTP, stateless, POST only). */
export const MCP_PATH = "/mcp";

/**
 * Optional request header naming the connection's default channel (a Loop or Discord
 * channel id), used when a tool call names none. `loop mcp` sets it from --dir/--channel-id.
 */
export const MCP_CHANNEL_HEADER = "Loop-Channel";
