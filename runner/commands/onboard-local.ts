/**
 * `loop onboard:local`: connects this project's Claude Code to Loop. It ensures a channel
 * for the directory, mints a token scoped to that one channel (so the tools need no
 * channel_id), and registers the remote MCP server "loop" in ./.mcp.json, which Claude
 * Code reads at start-up. Running it again changes nothing: the token already in
 * .mcp.json is reused while it still works, and the file is rewritten only if the entry
 * differs. Other servers and the file's formatting are left as they are.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { applyEdits, modify, parse as parseJsonc, printParseErrorCode, type ParseError } from "jsonc-parser";
import type { Channel } from "../../protocol/api.ts";
import { MCP_PATH } from "../../protocol/mcp.ts";
import { ApiClient, ApiError, resolveTarget } from "../api-client.ts";
import { UserError } from "../user-error.ts";
import { parseFlags } from "../flags.ts";

const USAGE = `usage: loop onboard:local [--api-url <url>] [--token <admin token>]

Run in a project directory. Ensures a Loop channel for it, mints a token scoped to that
channel and registers the HTTP MCP server "loop" in ./.mcp.json (other servers are kept).
The URL and token default to LOOP_API_URL / LOOP_ADMIN_TOKEN, then worker_url /
admin_token in ~/.loop/config.json.`;

export const SERVER_NAME = "loop";
const MCP_FILE = ".mcp.json";

export interface OnboardResult {
  channel: Channel;
  channelCreated: boolean;
  /** The id of the token minted this time, or null when the saved one was reused. */
  mintedTokenId: string | null;
  file: "created" | "updated" | "unchanged";
  path: string;
}

export async function run(argv: string[]): Promise<number> {
  const values = parseFlags(argv, { "api-url": { type: "string" }, token: { type: "string" } }, USAGE);
  if (!values) return 0;
  const api = new ApiClient(await resolveTarget({ apiUrl: values["api-url"], token: values.token }));
  const r = await onboardLocal(api, process.cwd());
  console.log(`channel    ${r.channel.id} (${r.channelCreated ? "created" : "existing"}) for ${r.channel.dir_path}`);
  console.log(`token      ${r.mintedTokenId ? `${r.mintedTokenId} minted, scoped to ${r.channel.id}` : `reused the one in ${MCP_FILE}`}`);
  console.log(`${MCP_FILE.padEnd(10)} ${r.file === "unchanged" ? "unchanged" : `${r.file}: server "${SERVER_NAME}" → ${api.target.apiUrl}${MCP_PATH}`}`);
  if (r.file !== "unchanged") {
    // The file now holds a bearer token; many projects commit .mcp.json.
    console.log(`\n${MCP_FILE} holds the token: keep it out of version control.\nClaude Code picks the server up on its next start here and asks once to approve it (project servers need approval).`);
  }
  return 0;
}

export async function onboardLocal(api: ApiClient, dir: string): Promise<OnboardResult> {
  const { channel, created } = await api.ensureChannel({ dir_path: dir });
  const path = join(dir, MCP_FILE);
  const text = await readOptional(path);
  const current = text === null ? undefined : serverEntry(parseMcpJson(text, path));

  const saved = current && current.type === "http" ? bearerOf(current.headers) : null;
  let token = saved && (await stillWorks(api, saved, channel.id)) ? saved : null;
  let mintedTokenId: string | null = null;
  if (!token) {
    const minted = await api.createToken({ name: `loop onboard:local ${dir}`.slice(0, 100), scope: [channel.id] });
    [token, mintedTokenId] = [minted.token, minted.id];
  }

  // An http entry keeps any keys the user added (a timeout, other headers); anything else
  // (the original Go loop's stdio entry, say) is replaced whole.
  const base = current && current.type === "http" ? current : {};
  const headers = isRecord(base.headers) ? base.headers : {};
  const wanted = { ...base, type: "http", url: `${api.target.apiUrl}${MCP_PATH}`, headers: { ...headers, Authorization: `Bearer ${token}` } };
  if (current && isDeepStrictEqual(current, wanted)) return { channel, channelCreated: created, mintedTokenId, file: "unchanged", path };

  if (text === null) {
    // New file: readable only by its owner, since it holds a token.
    await writeFile(path, `${JSON.stringify({ mcpServers: { [SERVER_NAME]: wanted } }, null, 2)}\n`, { mode: 0o600 });
    return { channel, channelCreated: created, mintedTokenId, file: "created", path };
  }
  const edits = modify(text, ["mcpServers", SERVER_NAME], wanted, { formattingOptions: { insertSpaces: true, tabSize: 2, eol: "\n" } });
  await writeFile(path, applyEdits(text, edits));
  return { channel, channelCreated: created, mintedTokenId, file: "updated", path };
}

async function readOptional(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UserError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

function parseMcpJson(text: string, path: string): Record<string, unknown> {
  const errors: ParseError[] = [];
  const doc: unknown = parseJsonc(text, errors, { allowTrailingComma: true });
  if (errors.length) throw new UserError(`${path} is not valid JSON (${printParseErrorCode(errors[0]!.error)} at offset ${errors[0]!.offset}); fix it and run again.`);
  if (!isRecord(doc)) throw new UserError(`${path} must hold a JSON object with "mcpServers".`);
  if (doc.mcpServers !== undefined && !isRecord(doc.mcpServers)) throw new UserError(`"mcpServers" in ${path} must be an object.`);
  return doc;
}

function serverEntry(doc: Record<string, unknown>): Record<string, unknown> | undefined {
  const entry = isRecord(doc.mcpServers) ? doc.mcpServers[SERVER_NAME] : undefined;
  return isRecord(entry) ? entry : undefined;
}

function bearerOf(headers: unknown): string | null {
  const value = isRecord(headers) ? headers.Authorization : undefined;
  const match = typeof value === "string" ? /^Bearer\s+(\S+)$/.exec(value) : null;
  return match ? match[1]! : null;
}

/** A saved token is kept if the API still accepts it for this channel; revoked, expired or foreign ones are replaced. */
async function stillWorks(api: ApiClient, token: string, channelId: string): Promise<boolean> {
  try {
    await api.withToken(token, MCP_FILE).getChannel(channelId);
    return true;
  } catch (err) {
    if (err instanceof ApiError && [401, 403, 404].includes(err.status)) return false;
    throw err;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
