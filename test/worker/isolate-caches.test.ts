/**
 * What the Worker keeps per isolate to save CPU (issue 19) is keyed so it cannot leak: the
 * drizzle instance per D1 binding. (The MCP tool table's per-request scoping is tested in
 * mcp.test.ts; the Ed25519 key cache in discord-signature.test.ts.)
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { db } from "../../core/db/client.ts";

describe("per-isolate caches", () => {
  it("one drizzle instance per D1 binding: the same binding shares it, another binding gets its own", async () => {
    expect(db(env.DB)).toBe(db(env.DB));
    // Another binding (another environment's database): a D1Database of its own.
    const calls: string[] = [];
    const other = {
      prepare: (sql: string) => {
        calls.push(sql);
        return env.DB.prepare(sql);
      },
      batch: env.DB.batch.bind(env.DB),
      exec: env.DB.exec.bind(env.DB),
      dump: () => Promise.reject(new Error("unused")),
      withSession: env.DB.withSession.bind(env.DB),
    } as unknown as D1Database;
    expect(db(other)).not.toBe(db(env.DB));
    expect(db(other)).toBe(db(other));
    await db(other).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
    // The shared instance still goes to its own binding, not the other one.
    await db(env.DB).query.channels.findMany({ limit: 1 });
    expect(calls).toHaveLength(1);
  });
});
