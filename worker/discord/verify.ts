/**
 * Checking that an interaction came from Discord: an Ed25519 signature by the application's
 * public key over X-Signature-Timestamp + the raw body, verified before anything is parsed
 * (https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint).
 *
 * verifyKey (discord-interactions) checks only the signature; a captured request would
 * verify forever, so the timestamp must also be recent: older than MAX_AGE (or further in
 * the future than clock skew allows) is refused like a bad signature.
 */
import { verifyKey } from "discord-interactions";

/** How old a signed timestamp may be. */
export const MAX_AGE_SECONDS = 5 * 60;
/** How far ahead of our clock a timestamp may be (Discord's and Cloudflare's clocks drift a little). */
export const MAX_SKEW_SECONDS = 60;

const SIGNATURE = /^[0-9a-f]{128}$/i;
const TIMESTAMP = /^\d{1,12}$/;

/** One imported key per public key per isolate: importing costs more than verifying. */
const keys = new Map<string, Promise<CryptoKey>>();

function importKey(hex: string): Promise<CryptoKey> {
  let key = keys.get(hex);
  if (!key) {
    const raw = new Uint8Array(hex.match(/../g)!.map((b) => Number.parseInt(b, 16)));
    key = crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
    key.catch(() => keys.delete(hex));
    keys.set(hex, key);
  }
  return key;
}

export type VerifyFailure = "missing" | "malformed" | "stale" | "bad_signature";

/** null when the request is genuine and fresh; otherwise why it is not. */
export async function verifyInteraction(
  publicKeyHex: string,
  rawBody: string,
  signature: string | undefined,
  timestamp: string | undefined,
  nowMs = Date.now(),
): Promise<VerifyFailure | null> {
  if (!signature || !timestamp) return "missing";
  if (!SIGNATURE.test(signature) || !TIMESTAMP.test(timestamp)) return "malformed";
  const age = nowMs / 1000 - Number(timestamp);
  if (age > MAX_AGE_SECONDS || age < -MAX_SKEW_SECONDS) return "stale";
  const ok = await verifyKey(rawBody, signature, timestamp, await importKey(publicKeyHex));
  return ok ? null : "bad_signature";
}
