/**
 * Reading requests against the shared zod schemas. Malformed JSON is a 400, a body of the
 * wrong shape a 422 naming the first offending field; no request shape reaches a 500.
 */
import type { Context } from "hono";
import type { z } from "zod";
import { AppError } from "../../core/errors.ts";

export function fromZodError(error: z.ZodError, where: string): AppError {
  const issue = error.issues[0]!;
  let field = issue.path.join(".");
  let message = issue.message;
  if (issue.code === "unrecognized_keys") {
    field = [...issue.path, issue.keys[0]].join(".");
    message = `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  }
  const prefix = field ? `${field}: ` : "";
  return new AppError(422, "invalid_request", `${prefix}${message}`, field || where);
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw fromZodError(result.error, where);
  return result.data;
}

export async function readBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError(400, "invalid_json", "The request body is not valid JSON.");
  }
  return parseWith(schema, value, "body");
}

export function readQuery<S extends z.ZodType>(c: Context, schema: S): z.infer<S> {
  return parseWith(schema, c.req.query(), "query");
}

/** Path ids are integers; anything else is a 404, the same as an id that does not exist. */
export function intParam(c: Context, name: string, what: string): number {
  const raw = c.req.param(name) ?? "";
  const id = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new AppError(404, "not_found", `${what} ${raw} does not exist (or this token cannot see it).`);
  }
  return id;
}
