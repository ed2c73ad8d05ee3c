import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, get } from "./api.ts";

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Reads `path` (again whenever it changes, and every `pollMs` if given), keeping the last good data. */
export function useApi<T>(path: string | null, pollMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({ data: null, error: null, loading: path !== null });
  const generation = useRef(0);
  const load = useCallback(() => {
    if (path === null) return;
    const mine = ++generation.current;
    get<T>(path).then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false }),
      (error: ApiError) => mine === generation.current && setState((s) => ({ data: error.status === 404 ? null : s.data, error, loading: false })),
    );
  }, [path]);
  useEffect(() => {
    setState((s) => ({ ...s, loading: true }));
    load();
    if (!pollMs) return;
    const timer = setInterval(() => document.visibilityState === "visible" && load(), pollMs);
    return () => clearInterval(timer);
  }, [load, pollMs]);
  return { ...state, reload: load };
}
