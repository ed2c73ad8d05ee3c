/**
 * /discord/interactions refuses anything Discord did not sign, and anything signed too long
 * ago, with 401 and no side effect. Requests are signed with real Ed25519 keys: the
 * Worker's (DISCORD_PUBLIC_KEY) and, for forgeries, one made here.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { verifyInteraction } from "../../worker/discord/verify.ts";
import { command, newPlace, nowSeconds, postRaw, send, signWith } from "./discord-helpers.ts";

const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

const PING = { id: "900000000000000100", application_id: "900000000000000001", type: 1, token: "ping-token", version: 1 };

let worker: CryptoKey | undefined;
async function workerKey(): Promise<CryptoKey> {
  const { alg: _alg, ...jwk } = JSON.parse(env.TEST_DISCORD_PRIVATE_JWK);
  return (worker ??= (await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"])) as CryptoKey);
}

async function otherKey(): Promise<CryptoKey> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as CryptoKeyPair;
  return pair.privateKey;
}

async function signed(body: string, timestamp = nowSeconds(), key?: CryptoKey) {
  return { "x-signature-ed25519": await signWith(key ?? (await workerKey()), timestamp, body), "x-signature-timestamp": timestamp };
}

async function expect401(res: Response) {
  expect(res.status).toBe(401);
  expect(((await res.json()) as any).error.code).toBe("invalid_signature");
}

describe("signature", () => {
  it("answers a signed PING with PONG", async () => {
    expect(await send(PING)).toEqual({ status: 200, body: { type: 1 } });
  });

  it("refuses a request signed with another key", async () => {
    const body = JSON.stringify(PING);
    await expect401(await postRaw(body, await signed(body, nowSeconds(), await otherKey())));
  });

  it("refuses a body changed after signing", async () => {
    const body = JSON.stringify(PING);
    const headers = await signed(body);
    await expect401(await postRaw(body.replace("ping-token", "pong-token"), headers));
  });

  it("refuses a signature over the body alone, without the timestamp", async () => {
    const body = JSON.stringify(PING);
    const timestamp = nowSeconds();
    const sig = await signWith(await workerKey(), "", body);
    await expect401(await postRaw(body, { "x-signature-ed25519": sig, "x-signature-timestamp": timestamp }));
  });

  it("refuses a request whose timestamp was changed after signing", async () => {
    const body = JSON.stringify(PING);
    const headers = await signed(body, String(Number(nowSeconds()) - 10));
    await expect401(await postRaw(body, { ...headers, "x-signature-timestamp": nowSeconds() }));
  });

  it("with the key imported once per isolate, a forgery right after a valid request is still refused (issue 19)", async () => {
    const body = JSON.stringify(PING);
    for (let i = 0; i < 3; i++) {
      const good = await signed(body);
      expect((await postRaw(body, good)).status).toBe(200);
      await expect401(await postRaw(body, await signed(body, nowSeconds(), await otherKey())));
      // The valid signature with one bit flipped.
      const flipped = good["x-signature-ed25519"].replace(/^./, (c) => (c === "0" ? "1" : "0"));
      await expect401(await postRaw(body, { ...good, "x-signature-ed25519": flipped }));
    }
  });

  it("the key cache is per public key: a signature valid for one key is refused under another", async () => {
    const pair = async () => {
      const keys = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as CryptoKeyPair;
      return { keys, hex: hex(new Uint8Array((await crypto.subtle.exportKey("raw", keys.publicKey)) as ArrayBuffer)) };
    };
    const [one, two] = [await pair(), await pair()];
    const body = JSON.stringify(PING);
    const timestamp = nowSeconds();
    const sig = await signWith(one.keys.privateKey, timestamp, body);
    expect(await verifyInteraction(one.hex, body, sig, timestamp)).toBeNull();
    expect(await verifyInteraction(two.hex, body, sig, timestamp)).toBe("bad_signature");
    expect(await verifyInteraction(one.hex, body, sig, timestamp)).toBeNull();
  });

  it("refuses missing headers", async () => {
    const body = JSON.stringify(PING);
    const { "x-signature-ed25519": sig, "x-signature-timestamp": ts } = await signed(body);
    await expect401(await postRaw(body, {}));
    await expect401(await postRaw(body, { "x-signature-timestamp": ts }));
    await expect401(await postRaw(body, { "x-signature-ed25519": sig }));
  });

  it("refuses malformed signatures and timestamps", async () => {
    const body = JSON.stringify(PING);
    const { "x-signature-ed25519": sig, "x-signature-timestamp": ts } = await signed(body);
    await expect401(await postRaw(body, { "x-signature-ed25519": sig.slice(0, 100), "x-signature-timestamp": ts }));
    await expect401(await postRaw(body, { "x-signature-ed25519": `zz${sig.slice(2)}`, "x-signature-timestamp": ts }));
    await expect401(await postRaw(body, { "x-signature-ed25519": sig, "x-signature-timestamp": `${ts}.5` }));
  });

  it("refuses a correctly signed request older than 5 minutes, accepts one a little younger", async () => {
    const body = JSON.stringify(PING);
    const now = Number(nowSeconds());
    await expect401(await postRaw(body, await signed(body, String(now - 5 * 60 - 5))));
    await expect401(await postRaw(body, await signed(body, String(now - 3600))));
    const fresh = await postRaw(body, await signed(body, String(now - 4 * 60)));
    expect(fresh.status).toBe(200);
  });

  it("refuses a timestamp from the future beyond clock skew", async () => {
    const body = JSON.stringify(PING);
    await expect401(await postRaw(body, await signed(body, String(Number(nowSeconds()) + 10 * 60))));
  });

  it("checks the signature before parsing: garbage unsigned is 401, garbage signed is 400", async () => {
    const garbage = "{not json";
    await expect401(await postRaw(garbage, await signed(garbage, nowSeconds(), await otherKey())));
    const res = await postRaw(garbage, await signed(garbage));
    expect(res.status).toBe(400);
  });

  it("a refused command has no effect: no channel, no run", async () => {
    const place = newPlace();
    const body = JSON.stringify(command("ask", { prompt: "delete everything" }, place));
    const stale = String(Number(nowSeconds()) - 600);
    await expect401(await postRaw(body, await signed(body, stale)));
    await expect401(await postRaw(body, await signed(body, nowSeconds(), await otherKey())));
    const channel = await env.DB.prepare("SELECT id FROM channels WHERE discord_channel_id = ?").bind(place.channelId).first();
    expect(channel).toBeNull();
    const runs = await env.DB.prepare("SELECT id FROM runs WHERE prompt = 'delete everything'").all();
    expect(runs.results).toEqual([]);
  });
});
