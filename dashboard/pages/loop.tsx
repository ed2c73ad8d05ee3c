/** A loop (docs/loops.md) and its iterations, each a run; Stop while it runs. */
import { useEffect, useState } from "preact/hooks";
import type { LoopWithIterations } from "../../protocol/api.ts";
import { api, ApiError } from "../api.ts";
import { DataTable, Empty, ErrorNote, Loading, Status, When } from "../components/bits.tsx";
import { duration, truncate, usd } from "../format.ts";
import { useApi } from "../use-api.ts";
import { NotFound } from "./not-found.tsx";

const every = (ms: number) => (ms === 0 ? "back to back" : ms % 60_000 === 0 ? `every ${ms / 60_000} min` : `every ${ms / 1000} s`);

export function Loop({ id }: { id: number }) {
  const [polling, setPolling] = useState(true);
  const loop = useApi<LoopWithIterations>(`/api/loops/${id}`, polling ? 3_000 : undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  // An ended loop does not change any more: stop re-reading it.
  const status = loop.data?.status;
  useEffect(() => {
    if (status && status !== "running") setPolling(false);
  }, [status]);
  if (loop.error?.status === 404) return <NotFound what={`Loop ${id}`} />;
  const l = loop.data;
  if (!l) return loop.error ? <ErrorNote error={loop.error} /> : <Loading />;

  async function stop() {
    setBusy(true);
    setError(null);
    try {
      await api("POST", `/api/loops/${id}/stop`);
      loop.reload();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <div class="section-head">
        <h1>
          Loop #{l.id} <Status status={l.status} />
        </h1>
        {l.status === "running" && (
          <div class="stop">
            <button type="button" class="danger" onClick={stop} disabled={busy}>
              Stop loop
            </button>
            <ErrorNote error={error} />
          </div>
        )}
      </div>
      <dl class="facts">
        <dt>Channel</dt>
        <dd>
          <a href={`/channels/${encodeURIComponent(l.channel_id)}`}>{l.channel_id}</a>
        </dd>
        <dt>Iterations</dt>
        <dd>
          {l.iteration} of {l.max_iterations === 0 ? "until stopped" : l.max_iterations}, {every(l.every_ms)}
          {l.fresh_session ? ", each in a fresh session" : ", one session"}
        </dd>
        {l.until && (
          <>
            <dt>Until</dt>
            <dd>an answer contains “{l.until}”</dd>
          </>
        )}
        {l.monitor_command && (
          <>
            <dt>Monitor</dt>
            <dd>
              <code>{l.monitor_command}</code>
            </dd>
          </>
        )}
        {l.next_at && (
          <>
            <dt>Next iteration</dt>
            <dd>
              <When iso={l.next_at} />
            </dd>
          </>
        )}
        {l.end_reason && (
          <>
            <dt>Ended</dt>
            <dd>
              {l.end_reason.replace(/_/g, " ")} <When iso={l.ended_at} />
            </dd>
          </>
        )}
      </dl>
      <h2>Prompt</h2>
      <pre class="prompt-text">{l.prompt}</pre>
      {l.summary && (
        <>
          <h2>Summary</h2>
          <pre class="result">{l.summary}</pre>
        </>
      )}
      <h2>Iterations</h2>
      {l.iterations.length === 0 ? (
        <Empty>No iteration has started yet.</Empty>
      ) : (
        <DataTable label="Iterations" columns={["#", "Run", "Status", "Answer", "Started", "Duration", "Cost"]}>
          {l.iterations.map((it) => (
            <tr key={it.run_id}>
              <td>{it.iteration}</td>
              <td>
                <a href={`/runs/${it.run_id}`}>#{it.run_id}</a>
              </td>
              <td>
                <Status status={it.status} />
              </td>
              <td class="prompt">{truncate(it.result_text ?? it.error ?? "—", 80)}</td>
              <td>
                <When iso={it.started_at} />
              </td>
              <td>{duration(it.started_at, it.finished_at)}</td>
              <td>{usd(it.cost_usd)}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
