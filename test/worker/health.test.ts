import { SELF } from "cloudflare:test";
import { expect, it } from "vitest";

it("reports ok, the version and that D1 is reachable, without a token", async () => {
  const res = await SELF.fetch("http://loop.test/api/health");
  expect(res.status).toBe(200);
  expect(await res.json()).toMatchObject({ ok: true, d1: true, version: expect.any(String) });
});
