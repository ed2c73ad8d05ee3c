/**
 * Token secrets: random, prefixed by kind so a leaked one is recognisable, stored only as
 * SHA-256 hex. Comparisons of secrets run in constant time.
 */
export type SecretKind = "api" | "runner" | "run";

const PREFIX: Record<SecretKind, string> = { api: "loop_api_", runner: "loop_runner_", run: "loop_run_" };

export function mintSecret(kind: SecretKind): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return PREFIX[kind] + base64url(bytes);
}

export function secretKind(secret: string): SecretKind | null {
  for (const [kind, prefix] of Object.entries(PREFIX) as [SecretKind, string][]) {
    if (secret.startsWith(prefix)) return kind;
  }
  return null;
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Constant-time equality of two secrets, by comparing their fixed-length digests. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all(
    [a, b].map((s) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(s))),
  );
  return crypto.subtle.timingSafeEqual(da!, db!);
}

export function randomId(prefix: string, bytes = 9): string {
  return prefix + base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export function base64url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
