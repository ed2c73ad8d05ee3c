/**
 * vitest globalSetup for the worker project: starts the fake Discord API in Node (workerd
 * cannot listen) and makes an Ed25519 key pair for signing interactions. The Worker gets
 * the fake's URL and the public key as bindings (vitest.config.ts reads them with inject);
 * the tests get the private key as a binding too, and sign requests as Discord would.
 */
import { webcrypto } from "node:crypto";
import type { TestProject } from "vitest/node";
import { startFakeDiscord } from "./discord.ts";

declare module "vitest" {
  export interface ProvidedContext {
    discordApiBase: string;
    discordPublicKey: string;
    discordPrivateJwk: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const fake = await startFakeDiscord({ botToken: "test-bot-token" });
  const pair = (await webcrypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  const raw = new Uint8Array(await webcrypto.subtle.exportKey("raw", pair.publicKey));
  project.provide("discordApiBase", fake.url);
  project.provide("discordPublicKey", Buffer.from(raw).toString("hex"));
  project.provide("discordPrivateJwk", JSON.stringify(await webcrypto.subtle.exportKey("jwk", pair.privateKey)));
  return () => fake.close();
}
