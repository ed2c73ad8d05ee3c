/**
 * The dashboard's one way to the Worker: same-origin fetches that carry the session cookie
 * (the browser adds it; scripts never see it) and, on writes, the session's CSRF token.
 * Every failure becomes an ApiError with the Worker's own message, for showing next to the
 * control that caused it.
 */
import type { ErrorBody } from "../protocol/api.ts";

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

let csrfToken: string | null = null;
/** Whether the session check has answered (with a token, or with none: signed out). */
let csrfKnown = false;
const csrfWaiters: ((token: string | null) => void)[] = [];
let onSignedOut: () => void = () => {};

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
  csrfKnown = true;
  for (const w of csrfWaiters.splice(0)) w(token);
}

/**
 * The page shows before GET /api/session has answered (that saves a round trip), so a write
 * made in that moment waits for the session's CSRF token instead of going out without it.
 */
function csrfFor(method: string, path: string): Promise<string | null> | string | null {
  if (method === "GET" || path === "/api/session") return csrfToken;
  return csrfKnown ? csrfToken : new Promise((resolve) => csrfWaiters.push(resolve));
}

/** Called when the Worker says the session has ended (401), so the app can ask to sign in. */
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  const csrf = await csrfFor(method, path);
  if (method !== "GET" && csrf) headers["x-csrf-token"] = csrf;
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "The Worker could not be reached. Is it running?");
  }
  if (res.status === 204) return undefined as T;
  const json = (await res.json().catch(() => null)) as (T & Partial<ErrorBody>) | null;
  if (!res.ok) {
    const err = json?.error;
    if (res.status === 401 && path !== "/api/session") onSignedOut();
    throw new ApiError(res.status, err?.code ?? "http_error", err?.message ?? `The Worker answered ${res.status}.`, err?.field);
  }
  return json as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
