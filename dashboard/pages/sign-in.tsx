/**
 * Sign-in: the token is posted once and exchanged for an HttpOnly cookie. It is held only in
 * this form's input, never in storage or the URL, and the input is cleared either way.
 */
import { useState } from "preact/hooks";
import type { Session } from "../../protocol/dashboard.ts";
import { api, ApiError } from "../api.ts";
import { ErrorNote } from "../components/bits.tsx";

export function SignIn({ onSignedIn, ended }: { onSignedIn: (s: Session) => void; ended: boolean }) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const form = e.currentTarget as HTMLFormElement;
    const input = form.elements.namedItem("token") as HTMLInputElement;
    setBusy(true);
    setError(null);
    try {
      const session = await api<Session>("POST", "/api/session", { token: input.value });
      input.value = "";
      onSignedIn(session);
    } catch (err) {
      setError(err as ApiError);
      input.focus();
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="signin" id="main">
      <h1>Loop</h1>
      {ended && <p class="notice">Your session has ended. Sign in again.</p>}
      <form onSubmit={submit} aria-describedby="signin-help">
        <label for="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "signin-error" : undefined}
        />
        <ErrorNote error={error} id="signin-error" />
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p id="signin-help" class="muted">
        Paste the <code>ADMIN_TOKEN</code> (in <code>.dev.vars</code> locally) or a token from <code>POST /api/tokens</code>. A channel
        token shows only its channels. The token is exchanged for a session cookie and is not kept by this page.
      </p>
    </main>
  );
}
