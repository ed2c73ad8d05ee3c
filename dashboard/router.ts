/**
 * Pages are real paths (bookmarkable; the Worker's assets answer every path that is not an
 * API with index.html). Navigation is pushState plus one event the app listens to.
 */
import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "overview" }
  | { page: "channels" }
  | { page: "channel"; id: string }
  | { page: "runs"; query: URLSearchParams }
  | { page: "run"; id: number }
  | { page: "loop"; id: number }
  | { page: "usage"; query: URLSearchParams }
  | { page: "not-found" };

export function parseRoute(path: string, search: string): Route {
  const parts = path.replace(/\/+$/, "").split("/").slice(1).map(decodeURIComponent);
  const query = new URLSearchParams(search);
  if (parts.length === 0) return { page: "overview" };
  if (parts[0] === "channels" && parts.length === 1) return { page: "channels" };
  if (parts[0] === "channels" && parts.length === 2) return { page: "channel", id: parts[1]! };
  if (parts[0] === "runs" && parts.length === 1) return { page: "runs", query };
  if (parts[0] === "runs" && parts.length === 2 && /^\d{1,15}$/.test(parts[1]!)) return { page: "run", id: Number(parts[1]) };
  if (parts[0] === "loops" && parts.length === 2 && /^\d{1,15}$/.test(parts[1]!)) return { page: "loop", id: Number(parts[1]) };
  if (parts[0] === "usage" && parts.length === 1) return { page: "usage", query };
  return { page: "not-found" };
}

const NAVIGATED = "loop:navigated";

export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  window.dispatchEvent(new Event(NAVIGATED));
  if (!replace) window.scrollTo(0, 0);
}

export function useRoute(): Route {
  const read = () => parseRoute(location.pathname, location.search);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const update = () => setRoute(read());
    window.addEventListener("popstate", update);
    window.addEventListener(NAVIGATED, update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(NAVIGATED, update);
    };
  }, []);
  return route;
}

/** Plain left clicks on same-origin links navigate in place; anything else is the browser's. */
export function interceptLinks(root: HTMLElement): void {
  root.addEventListener("click", (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = (e.target as Element).closest("a");
    if (!a || a.target || a.hasAttribute("download") || a.origin !== location.origin) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
}
