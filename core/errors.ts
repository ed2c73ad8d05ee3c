/**
 * Errors a person can act on. Domain code throws AppError; the app's one onError turns it
 * into {"error": {code, message, field?}} with its status. Anything else is a bug: logged,
 * answered with a bare 500.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { ErrorBody } from "../protocol/api.ts";

export class AppError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: ContentfulStatusCode, code: string, message: string, field?: string) {
    super(message);
    this.name = "AppError";
    this.status = status;
    this.code = code;
    this.field = field;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export const notFound = (what: string, id: string | number): AppError =>
  new AppError(404, "not_found", `${what} ${id} does not exist (or this token cannot see it).`);

export const forbidden = (message: string): AppError => new AppError(403, "forbidden", message);

export const invalid = (message: string, field?: string): AppError =>
  new AppError(422, "invalid_request", message, field);

export const conflict = (message: string, field?: string): AppError =>
  new AppError(409, "conflict", message, field);
