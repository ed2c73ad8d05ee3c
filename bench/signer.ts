/**
 * Signs interactions as Discord does (Ed25519 over timestamp + body, a fresh key pair per
 * benchmark) and sends them to a Worker's /discord/interactions.
 */
import { webcrypto } from "node:crypto";

export async function discordSigner() {
  const pair = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const publicKey = Buffer.from(await webcrypto.subtle.exportKey("raw", pair.publicKey)).toString("hex");
  return {
    /** The DISCORD_PUBLIC_KEY the Worker must be given. */
    publicKey,
    /** Signs and sends; timed from sending the signed request to having the whole answer. */
    async send(url: string, body: string, extraHeaders: Record<string, string> = {}): Promise<{ ms: number; type: number }> {
      const timestamp = String(Math.floor(Date.now() / 1000));
      const sig = Buffer.from(await webcrypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, new TextEncoder().encode(timestamp + body))).toString("hex");
      const t0 = performance.now();
      const res = await fetch(`${url}/discord/interactions`, {
        method: "POST",
        headers: { ...extraHeaders, "content-type": "application/json", "x-signature-ed25519": sig, "x-signature-timestamp": timestamp },
        body,
      });
      const json = (await res.json()) as { type: number };
      const ms = performance.now() - t0;
      if (res.status !== 200) throw new Error(`interaction answered ${res.status}: ${JSON.stringify(json)}`);
      return { ms, type: json.type };
    },
  };
}
