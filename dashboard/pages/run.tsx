/**
 * One run, live: its events over the SSE stream (EventSource reconnects by itself and resumes
 * with Last-Event-ID; the page says when it is reconnecting), its footer figures and Stop.
 */
import { useEffect, useState } from "preact/hooks";
import type { Channel, Run as RunData } from "../../protocol/api.ts";
import type { RunEventData, WireEvent } from "../../protocol/runner.ts";
import { api, ApiError } from "../api.ts";
import { ApprovalPanel } from "../components/approval-panel.tsx";
import { ErrorNote, Loading, Status, When } from "../components/bits.tsx";
import { duration, local, tokens, usd } from "../format.ts";
import { applyEvent, emptyTranscript, fold, type Item, type Transcript } from "../transcript.ts";
import { useApi } from "../use-api.ts";
import { NotFound } from "./not-found.tsx";

const EVENT_TYPES = ["init", "text", "tool_use", "tool_result", "notice", "approval_requested", "approval_decided"] as const satisfies readonly RunEventData["type"][];
const TERMINAL = new Set(["succeeded", "failed", "cancelled", "lost", "skipped_budget"]);
type Connection = "connecting" | "live" | "reconnecting" | "finished" | "stopped";

export function Run({ id }: { id: number }) {
  const loaded = useApi<RunData>(`/api/runs/${id}`);
  const channel = useApi<Channel>(loaded.data ? `/api/channels/${encodeURIComponent(loaded.data.channel_id)}` : null);
  const [final, setFinal] = useState<RunData | null>(null);
  const [transcript, setTranscript] = useState<Transcript>(emptyTranscript);
  const [conn, setConn] = useState<Connection>("connecting");
  const [stopError, setStopError] = useState<ApiError | null>(null);
  const [stopping, setStopping] = useState(false);

  useEffect(() => {
    setTranscript(emptyTranscript);
    setFinal(null);
    setConn("connecting");
    const es = new EventSource(`/api/runs/${id}/stream`);
    // A run's backlog arrives as hundreds of events in one go: apply them in one state
    // update per task, not one render per event.
    let pending: WireEvent[] = [];
    let timer: ReturnType<typeof setTimeout> | null = null;
    const flush = () => {
      timer = null;
      const batch = pending;
      pending = [];
      if (batch.length) setTranscript((t) => batch.reduce((acc, w) => applyEvent(acc, w.seq, w.data), t));
    };
    const onEvent = (e: MessageEvent<string>) => {
      pending.push(JSON.parse(e.data) as WireEvent);
      timer ??= setTimeout(flush, 0);
    };
    for (const type of EVENT_TYPES) es.addEventListener(type, onEvent as EventListener);
    es.addEventListener("complete", ((e: MessageEvent<string>) => {
      flush();
      setFinal(JSON.parse(e.data) as RunData);
      setConn("finished");
      es.close();
    }) as EventListener);
    es.onopen = () => setConn("live");
    es.onerror = () => setConn(es.readyState === EventSource.CLOSED ? "stopped" : "reconnecting");
    return () => {
      es.close();
      if (timer) clearTimeout(timer);
    };
  }, [id]);

  // The stream carries events, not status changes: while the run waits in the queue, or for a
  // decision someone may give in Discord, re-read it.
  const waiting = !final && ((loaded.data?.status === "queued" && transcript.items.length === 0) || loaded.data?.status === "waiting_approval");
  useEffect(() => {
    if (!waiting) return;
    const t = setInterval(loaded.reload, 3_000);
    return () => clearInterval(t);
  }, [waiting, loaded.reload]);

  if (loaded.error?.status === 404) return <NotFound what={`Run ${id}`} />;
  const base = loaded.data;
  if (!base) return loaded.error ? <ErrorNote error={loaded.error} /> : <Loading />;
  const run = final ?? base;
  const status = run.status === "queued" && transcript.items.length > 0 ? "running" : run.status;
  const finished = TERMINAL.has(status);

  async function stop() {
    setStopping(true);
    setStopError(null);
    try {
      const res = await api<{ outcome: string; run: RunData }>("POST", `/api/runs/${id}/cancel`);
      if (res.outcome === "cancelled") setFinal(res.run);
    } catch (err) {
      setStopError(err as ApiError);
    } finally {
      setStopping(false);
    }
  }

  return (
    <>
      <div class="section-head">
        <h1>
          Run #{run.id} <Status status={status} />
        </h1>
        {!finished && (
          <div class="stop">
            <button type="button" class="danger" onClick={stop} disabled={stopping} aria-describedby={stopError ? "stop-error" : undefined}>
              {stopping ? "Stopping…" : "Stop"}
            </button>
            <ErrorNote error={stopError} id="stop-error" />
          </div>
        )}
      </div>
      <dl class="facts">
        <dt>Channel</dt>
        <dd>
          <a href={`/channels/${encodeURIComponent(run.channel_id)}`}>{channel.data?.name ?? run.channel_id}</a>
        </dd>
        <dt>Trigger</dt>
        <dd>
          {run.trigger}
          {run.task_id !== null && (
            <>
              {" "}
              · <a href={`/runs?task_id=${run.task_id}`}>task #{run.task_id}</a>
            </>
          )}
          {run.loop_id !== null && (
            <>
              {" "}
              · <a href={`/loops/${run.loop_id}`}>loop #{run.loop_id}</a>, iteration {run.iteration}
            </>
          )}
          {run.attempt > 1 && ` · attempt ${run.attempt}`}
        </dd>
        <dt>Created</dt>
        <dd>
          <When iso={run.created_at} /> <span class="muted">{local(run.created_at)}</span>
        </dd>
      </dl>
      {run.status === "waiting_approval" && run.pending_approval && <ApprovalPanel key={run.pending_approval.deferral} runId={run.id} pending={run.pending_approval} onDecided={loaded.reload} />}
      <h2>Prompt</h2>
      <pre class="prompt-text">{run.prompt}</pre>

      <div class="section-head">
        <h2>Output</h2>
        <ConnectionState conn={conn} />
      </div>
      <ol class="transcript" aria-live="polite" aria-label="Run output">
        {transcript.items.map((item) => (
          <TranscriptItem key={item.seq} item={item} />
        ))}
        {transcript.items.length === 0 && (
          <li class="muted">{status === "queued" ? "Waiting for a runner to claim this run…" : finished ? "No events were recorded." : "Waiting for output…"}</li>
        )}
      </ol>
      {/* The answer is the transcript's last text; show it apart only when no text was streamed. */}
      {run.result_text && finished && !transcript.items.some((i) => i.kind === "text") && (
        <section aria-labelledby="result-title">
          <h2 id="result-title">Result</h2>
          <pre class="result">{run.result_text}</pre>
        </section>
      )}
      {run.error && <p class="error">{run.error}</p>}
      <dl class="run-footer" aria-label="Run figures">
        <div>
          <dt>Duration</dt>
          <dd>{duration(run.started_at, run.finished_at)}</dd>
        </div>
        <div>
          <dt>Tokens</dt>
          <dd>
            {tokens(run.input_tokens)} in · {tokens(run.output_tokens)} out
          </dd>
        </div>
        <div>
          <dt>Cost</dt>
          <dd>{usd(run.cost_usd)}</dd>
        </div>
        <div>
          <dt>Model</dt>
          <dd>{run.model ?? "—"}</dd>
        </div>
        {run.exit_code !== null && (
          <div>
            <dt>Exit code</dt>
            <dd>{run.exit_code}</dd>
          </div>
        )}
      </dl>
    </>
  );
}

function ConnectionState({ conn }: { conn: Connection }) {
  const text: Record<Connection, string> = {
    connecting: "Connecting…",
    live: "Live",
    reconnecting: "Connection lost; reconnecting…",
    finished: "Finished",
    stopped: "The live stream stopped; reload the page to try again.",
  };
  return (
    <p class={`conn conn-${conn}`} role="status" data-testid="connection">
      {text[conn]}
    </p>
  );
}

function Folded({ text, label }: { text: string; label: string }) {
  const f = fold(text);
  if (!f.folded) return <pre>{text}</pre>;
  return (
    <details>
      <summary>
        {label} ({f.lines} lines, {text.length} characters)
      </summary>
      <pre>{text}</pre>
    </details>
  );
}

/** Tool inputs arrive as JSON: one "key: value" line per argument reads better. */
function toolInput(input: string): string {
  try {
    const value: unknown = JSON.parse(input);
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return Object.entries(value)
        .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
        .join("\n");
    }
  } catch {}
  return input;
}

function TranscriptItem({ item }: { item: Item }) {
  switch (item.kind) {
    case "text":
      return <li class="t-text">{item.text}</li>;
    case "init":
      return <li class="t-notice muted">Session started{item.model ? ` · ${item.model}` : ""}</li>;
    case "notice":
      return <li class="t-notice">{item.message}</li>;
    case "result":
      return (
        <li class={item.isError ? "t-tool t-error" : "t-tool"}>
          <Folded text={item.output} label="Tool result" />
        </li>
      );
    case "tool":
      return (
        <li class={item.result?.isError ? "t-tool t-error" : "t-tool"}>
          <div class="tool-name">
            <span aria-hidden="true">⚙</span> {item.name}
          </div>
          <Folded text={toolInput(item.input)} label="Input" />
          {item.result ? (
            <Folded text={item.result.output} label={item.result.isError ? "Error" : "Result"} />
          ) : (
            <p class="muted">{item.held ? "held for approval" : "running…"}</p>
          )}
        </li>
      );
  }
}
