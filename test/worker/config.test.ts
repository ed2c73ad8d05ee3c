/** The Worker's configuration: vars parsed once by one zod schema, a bad one named. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { config, type Env } from "../../core/env.ts";

const withVars = (vars: Partial<Env>) => config({ ...env, ...vars } as Env);

describe("config", () => {
  it("reads LEASE_TTL_SECONDS in seconds, 60 when unset", () => {
    expect(withVars({ LEASE_TTL_SECONDS: "5" }).leaseTtlMs).toBe(5_000);
    expect(withVars({ LEASE_TTL_SECONDS: undefined }).leaseTtlMs).toBe(60_000);
    expect(withVars({ LEASE_TTL_SECONDS: "" }).leaseTtlMs).toBe(60_000);
  });

  it("refuses a LEASE_TTL_SECONDS that is not a positive number, naming it", () => {
    expect(() => withVars({ LEASE_TTL_SECONDS: "soon" })).toThrow(/leaseTtlMs/);
    expect(() => withVars({ LEASE_TTL_SECONDS: "0" })).toThrow(/leaseTtlMs/);
  });

  it("reads PUBLIC_URL without its trailing slashes, and leaves it unset when empty", () => {
    expect(withVars({ PUBLIC_URL: "https://loop.example.dev//" }).publicUrl).toBe("https://loop.example.dev");
    expect(withVars({ PUBLIC_URL: "" }).publicUrl).toBeUndefined();
    expect(() => withVars({ PUBLIC_URL: "loop.example.dev" })).toThrow(/publicUrl/);
  });
});
