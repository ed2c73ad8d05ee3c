/**
 * The dashboard: shows the page the URL names at once and, alongside, asks the Worker who it is
 * (GET /api/session, by the cookie) for the CSRF token; not waiting saves the page a round
 * trip, and a write made meanwhile waits for the token (api.ts). Any 401 (no session, or one that ended) turns the page into sign-in.
 */
import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";
import type { Session } from "../protocol/dashboard.ts";
import { api, ApiError, setCsrfToken, whenSignedOut } from "./api.ts";
import { ErrorNote, Loading } from "./components/bits.tsx";
import { Channel } from "./pages/channel.tsx";
import { Channels } from "./pages/channels.tsx";
import { NotFound } from "./pages/not-found.tsx";
import { Loop } from "./pages/loop.tsx";
import { Overview } from "./pages/overview.tsx";
import { Run } from "./pages/run.tsx";
import { Runs } from "./pages/runs.tsx";
import { SignIn } from "./pages/sign-in.tsx";
import { useRoute, type Route } from "./router.ts";

type Auth = { state: "checking" } | { state: "signed-out"; ended: boolean } | { state: "signed-in"; session: Session };

const NAV = [
  { href: "/", label: "Overview", pages: ["overview"] },
  { href: "/channels", label: "Channels", pages: ["channels", "channel", "loop"] },
  { href: "/runs", label: "Runs", pages: ["runs", "run"] },
  { href: "/usage", label: "Usage", pages: ["usage"] },
];

const TITLES: Record<Route["page"], string> = {
  overview: "Overview",
  channels: "Channels",
  channel: "Channel",
  runs: "Runs",
  run: "Run",
  loop: "Loop",
  usage: "Usage",
  "not-found": "Not found",
};

export function App() {
  const [auth, setAuth] = useState<Auth>({ state: "checking" });
  const route = useRoute();

  useEffect(() => {
    // "Your session has ended" only for someone who was signed in a moment ago.
    whenSignedOut(() => setAuth((a) => ({ state: "signed-out", ended: a.state === "signed-in" })));
    api<Session>("GET", "/api/session").then(
      (session) => signedIn(session),
      () => {
        setCsrfToken(null); // no session: writes waiting for its token go out without one (and get 401)
        setAuth((a) => (a.state === "signed-out" ? a : { state: "signed-out", ended: false }));
      },
    );
  }, []);

  useEffect(() => {
    document.title = `${TITLES[route.page]} · Loop`;
  }, [route]);

  function signedIn(session: Session) {
    setCsrfToken(session.csrf_token);
    setAuth({ state: "signed-in", session });
  }

  if (auth.state === "signed-out") return <SignIn ended={auth.ended} onSignedIn={signedIn} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a href="/" class="brand">
          Loop
        </a>
        <nav aria-label="Pages">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <a href={n.href} aria-current={n.pages.includes(route.page) ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {auth.state === "signed-in" && <SignOut session={auth.session} onDone={() => setAuth({ state: "signed-out", ended: false })} />}
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return <Overview />;
    case "channels":
      return <Channels />;
    case "channel":
      return <Channel key={route.id} id={route.id} />;
    case "runs":
      return <Runs query={route.query} />;
    case "run":
      return <Run key={route.id} id={route.id} />;
    case "loop":
      return <Loop key={route.id} id={route.id} />;
    case "usage":
      return <LazyUsage query={route.query} />;
    case "not-found":
      return <NotFound />;
  }
}

/** The Usage page brings uPlot; it loads when first visited, not with every page. */
let usagePage: Promise<ComponentType<{ query: URLSearchParams }>> | null = null;
function LazyUsage({ query }: { query: URLSearchParams }) {
  const [Page, setPage] = useState<ComponentType<{ query: URLSearchParams }> | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    usagePage ??= import("./pages/usage.tsx").then((m) => m.default);
    usagePage.then(
      (p) => setPage(() => p),
      () => setError(new ApiError(0, "load", "The Usage page could not be loaded; reload to try again.")),
    );
  }, []);
  if (error) return <ErrorNote error={error} />;
  return Page ? <Page query={query} /> : <Loading />;
}

function SignOut({ session, onDone }: { session: Session; onDone: () => void }) {
  const [error, setError] = useState<ApiError | null>(null);
  const who = session.kind === "admin" ? "admin" : `${session.channel_ids?.length ?? 0} channel${session.channel_ids?.length === 1 ? "" : "s"}`;
  async function signOut() {
    try {
      await api("DELETE", "/api/session");
      setCsrfToken(null);
      onDone();
    } catch (err) {
      setError(err as ApiError);
    }
  }
  return (
    <div class="who">
      <span class="muted">Signed in: {who}</span>
      <button type="button" onClick={signOut}>
        Sign out
      </button>
      <ErrorNote error={error} />
    </div>
  );
}
