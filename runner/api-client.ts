/**
 * The `loop` CLI's client for the Worker's REST API, shared by every command that talks to
 * it: where the URL and token come from, one request function that parses every answer
 * with the shared zod schema (protocol/api.ts), and errors that name the API's own error
 * code and message. The API refusing something (bad token, unknown channel) is the user's
 * to fix, so it is a UserError; an answer of the wrong shape is a bug, so it is not.
 */
import { z } from "zod";
import { ApiToken, Channel, CreatedToken, ErrorBody, type CreateToken, type EnsureChannel } from "../protocol/api.ts";
import { ConfigFile, defaultConfigPath, issueLines, readConfigFile } from "./config-file.ts";
import { UserError } from "./user-error.ts";

/** How long one API call may take before the CLI gives up on it. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ApiTarget {
  /** The Worker's base URL, without a trailing slash. */
  apiUrl: string;
  token: string;
  /** Where the token came from, named in 401 messages so the user knows what to fix. */
  tokenSource: string;
}

/** The keys of ~/.loop/config.json the API client reads, checked by the file's one schema; the file holds others too. */
const ApiKeys = ConfigFile.pick({ worker_url: true, admin_token: true });

/** Reads worker_url and admin_token from ~/.loop/config.json; a missing file is an empty config. */
export function readLoopConfig(path = defaultConfigPath()): z.infer<typeof ApiKeys> {
  const raw = readConfigFile(path);
  if (raw === null) return {};
  const result = ApiKeys.safeParse(raw);
  if (!result.success) throw new UserError(`${path} is not valid:\n${issueLines(result.error)}`);
  return result.data;
}

/**
 * The API URL and token, each from the first place that has it: the flag, then the
 * environment (LOOP_API_URL, LOOP_ADMIN_TOKEN), then ~/.loop/config.json (worker_url,
 * admin_token). The config file is read only when a flag or variable is missing.
 */
export async function resolveTarget(
  flags: { apiUrl?: string | undefined; token?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
  configPath = defaultConfigPath(),
): Promise<ApiTarget> {
  let apiUrl = flags.apiUrl || env.LOOP_API_URL;
  let token = flags.token;
  let tokenSource = "--token";
  if (!token && env.LOOP_ADMIN_TOKEN) [token, tokenSource] = [env.LOOP_ADMIN_TOKEN, "LOOP_ADMIN_TOKEN"];
  if (!apiUrl || !token) {
    const file = readLoopConfig(configPath);
    apiUrl ||= file.worker_url;
    if (!token && file.admin_token) [token, tokenSource] = [file.admin_token, `admin_token in ${configPath}`];
  }
  if (!apiUrl) throw new UserError(`no API URL: pass --api-url, set LOOP_API_URL, or set worker_url in ${configPath}.`);
  if (!token) throw new UserError(`no token: pass --token, set LOOP_ADMIN_TOKEN, or set admin_token in ${configPath}.`);
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new UserError(`"${apiUrl}" is not a URL; the API URL looks like https://loop.example.workers.dev.`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UserError(`the API URL must be http(s), not ${url.protocol}`);
  return { apiUrl: url.href.replace(/\/+$/, ""), token, tokenSource };
}

/** The API refused a request: its status, and the code and message from its error envelope. */
export class ApiError extends UserError {
  override name = "ApiError";
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class ApiClient {
  readonly target: ApiTarget;
  readonly #fetch: typeof fetch;

  constructor(target: ApiTarget, fetchImpl: typeof fetch = fetch) {
    this.target = target;
    this.#fetch = fetchImpl;
  }

  /** The same API with another token (e.g. to check that a saved token still works). */
  withToken(token: string, tokenSource: string): ApiClient {
    return new ApiClient({ ...this.target, token, tokenSource }, this.#fetch);
  }

  /** One call; the body of a 2xx answer is parsed with `schema` (null for an empty body). */
  async request<S extends z.ZodType>(method: string, path: string, schema: S, body?: unknown): Promise<{ status: number; data: z.infer<S> }> {
    const what = `${method} ${path}`;
    let res: Response;
    try {
      res = await this.#fetch(`${this.target.apiUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.target.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new UserError(`cannot reach the Loop API at ${this.target.apiUrl} (${what}): ${cause}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Proxies answer HTML on some failures; the status still says what happened.
    }
    if (!res.ok) throw this.#refusal(what, res.status, json);
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new Error(`unexpected answer to ${what} from ${this.target.apiUrl}: ${z.prettifyError(parsed.error)}`);
    return { status: res.status, data: parsed.data };
  }

  #refusal(what: string, status: number, json: unknown): ApiError {
    const envelope = ErrorBody.safeParse(json);
    const code = envelope.success ? envelope.data.error.code : `http_${status}`;
    const message = envelope.success ? envelope.data.error.message : `HTTP ${status}`;
    const hint = status === 401 ? ` (the token came from ${this.target.tokenSource})` : "";
    return new ApiError(status, code, `${what} refused: ${code}: ${message}${hint}`);
  }

  /** Finds or creates the channel bound to a directory (POST /api/channels is idempotent). */
  async ensureChannel(input: EnsureChannel): Promise<{ channel: Channel; created: boolean }> {
    const { status, data } = await this.request("POST", "/api/channels", Channel, input);
    return { channel: data, created: status === 201 };
  }

  async getChannel(id: string): Promise<Channel> {
    return (await this.request("GET", `/api/channels/${encodeURIComponent(id)}`, Channel)).data;
  }

  async createToken(input: CreateToken): Promise<z.infer<typeof CreatedToken>> {
    return (await this.request("POST", "/api/tokens", CreatedToken, input)).data;
  }

  async listTokens(): Promise<ApiToken[]> {
    return (await this.request("GET", "/api/tokens", z.object({ tokens: z.array(ApiToken) }))).data.tokens;
  }
}
