import { useState } from "preact/hooks";
import type { Channel as ChannelData, Loop, Run, Task, TaskType } from "../../protocol/api.ts";
import { api, ApiError } from "../api.ts";
import { Empty, ErrorNote, Loading, Status, When } from "../components/bits.tsx";
import { RunTable } from "../components/run-table.tsx";
import { local, truncate } from "../format.ts";
import { navigate } from "../router.ts";
import { useApi } from "../use-api.ts";
import { discordLink } from "./channels.tsx";
import { NotFound } from "./not-found.tsx";

const RECENT_RUNS = 20;

export function Channel({ id }: { id: string }) {
  const channel = useApi<ChannelData>(`/api/channels/${encodeURIComponent(id)}`);
  const tasks = useApi<{ tasks: Task[] }>(`/api/tasks?channel_id=${encodeURIComponent(id)}`);
  const runs = useApi<{ runs: Run[] }>(`/api/runs?channel_id=${encodeURIComponent(id)}&limit=${RECENT_RUNS}`, 5_000);
  const loops = useApi<{ loops: Loop[] }>(`/api/loops?channel_id=${encodeURIComponent(id)}&limit=10`, 5_000);
  const [adding, setAdding] = useState(false);

  if (channel.error?.status === 404) return <NotFound what={`Channel ${id}`} />;
  const c = channel.data;
  if (!c) return channel.error ? <ErrorNote error={channel.error} /> : <Loading />;
  const discord = discordLink(c);
  return (
    <>
      <h1>{c.name}</h1>
      <dl class="facts">
        <dt>Directory</dt>
        <dd>
          <code>{c.dir_path ?? "none (set one with /loop dir)"}</code>
        </dd>
        <dt>Discord</dt>
        <dd>{discord ? <a href={discord}>open in Discord</a> : "not linked"}</dd>
        <dt>Session</dt>
        <dd>{c.session_id ? <code>{c.session_id}</code> : "fresh (the next run starts a new conversation)"}</dd>
        <dt>Runner label</dt>
        <dd>{c.runner_label ?? "any runner"}</dd>
      </dl>

      <section aria-labelledby="tasks-title">
        <div class="section-head">
          <h2 id="tasks-title">Tasks</h2>
          <button type="button" onClick={() => setAdding(!adding)} aria-expanded={adding}>
            {adding ? "Close" : "New task"}
          </button>
        </div>
        {adding && (
          <TaskForm
            legend="New task"
            submitLabel="Schedule"
            onSubmit={async (v) => {
              await api("POST", "/api/tasks", { channel_id: c.id, ...v });
              setAdding(false);
              tasks.reload();
            }}
          />
        )}
        <ErrorNote error={tasks.error} />
        {tasks.data && tasks.data.tasks.length === 0 && (
          <Empty>
            No tasks. Use <strong>New task</strong>, <code>/loop schedule</code> in Discord, or ask the agent to schedule one.
          </Empty>
        )}
        <ul class="tasks">
          {tasks.data?.tasks.map((t) => (
            // Keyed by updated_at too: an edited task re-reads its next times.
            <TaskItem key={`${t.id}-${t.updated_at}`} task={t} onChanged={tasks.reload} onRan={runs.reload} />
          ))}
        </ul>
      </section>

      {loops.data && loops.data.loops.length > 0 && (
        <section aria-labelledby="loops-title">
          <h2 id="loops-title">Loops</h2>
          <ul class="loops">
            {loops.data.loops.map((l) => (
              <li key={l.id}>
                <a href={`/loops/${l.id}`}>Loop #{l.id}</a> <Status status={l.status} />{" "}
                <span class="muted">
                  iteration {l.iteration}
                  {l.max_iterations ? ` of ${l.max_iterations}` : ""}
                </span>{" "}
                {truncate(l.prompt, 80)}
              </li>
            ))}
          </ul>
        </section>
      )}

      <section aria-labelledby="recent-title">
        <h2 id="recent-title">Recent runs</h2>
        <ErrorNote error={runs.error} />
        {runs.data && runs.data.runs.length === 0 && <Empty>No runs yet. Use a task's <strong>Run now</strong>.</Empty>}
        {runs.data && runs.data.runs.length > 0 && <RunTable runs={runs.data.runs} label="Recent runs of this channel" />}
        <p>
          <a href={`/runs?channel_id=${encodeURIComponent(c.id)}`}>All runs of {c.name}</a>
        </p>
      </section>
    </>
  );
}

function TaskItem({ task, onChanged, onRan }: { task: Task; onChanged: () => void; onRan: () => void }) {
  const next = useApi<{ next: string[] }>(`/api/tasks/${task.id}/next?count=5`);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [editing, setEditing] = useState(false);
  // The switch moves at once; a refused change puts it back and says why.
  const [enabled, setEnabled] = useState(task.enabled);
  const act = async (fn: () => Promise<unknown>) => {
    setBusy(true);
    setError(null);
    try {
      await fn();
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  };
  const titleId = `task-${task.id}-title`;
  return (
    <li class="task" aria-labelledby={titleId}>
      <div class="task-head">
        <h3 id={titleId}>
          Task #{task.id} <span class="muted">{task.type}</span> <code>{task.schedule}</code>
          {task.tz && <span class="muted"> ({task.tz})</span>}
        </h3>
        <label class="switch">
          <input
            type="checkbox"
            checked={enabled}
            disabled={busy}
            onChange={(e) => {
              const want = (e.currentTarget as HTMLInputElement).checked;
              setEnabled(want);
              void act(async () => {
                try {
                  await api("PATCH", `/api/tasks/${task.id}`, { enabled: want });
                } catch (err) {
                  setEnabled(!want);
                  throw err;
                }
                onChanged();
              });
            }}
          />
          <span>{enabled ? "Enabled" : "Disabled"}</span>
        </label>
      </div>
      <p class="prompt-text">{task.prompt}</p>
      <p class="muted">
        Next:{" "}
        {!enabled
          ? "paused"
          : next.data && next.data.next.length
            ? next.data.next.map((t, i) => (
                <span key={t}>
                  {i > 0 && " · "}
                  <time dateTime={t}>{local(t)}</time>
                </span>
              ))
            : "nothing scheduled"}
        {task.last_run_at && (
          <>
            {" "}
            · last ran <When iso={task.last_run_at} />
          </>
        )}
      </p>
      <div class="actions">
        <button
          type="button"
          disabled={busy}
          onClick={() => act(async () => {
            const run = await api<Run>("POST", `/api/tasks/${task.id}/run`);
            onRan();
            navigate(`/runs/${run.id}`);
          })}
        >
          Run now
        </button>
        <button type="button" disabled={busy} onClick={() => setEditing(!editing)} aria-expanded={editing}>
          {editing ? "Cancel edit" : "Edit"}
        </button>
        <button
          type="button"
          class="danger"
          disabled={busy}
          onClick={() => {
            if (!confirm(`Delete task #${task.id}? Its runs stay in the history.`)) return;
            void act(async () => {
              await api("DELETE", `/api/tasks/${task.id}`);
              onChanged();
            });
          }}
        >
          Delete
        </button>
      </div>
      <ErrorNote error={error} />
      {editing && (
        <TaskForm
          legend={`Edit task #${task.id}`}
          submitLabel="Save"
          initial={task}
          onSubmit={async (v) => {
            await api("PATCH", `/api/tasks/${task.id}`, v);
            setEditing(false);
            onChanged();
          }}
        />
      )}
    </li>
  );
}

interface TaskValues {
  type: TaskType;
  schedule: string;
  tz: string | null;
  prompt: string;
}

function TaskForm(props: { legend: string; submitLabel: string; initial?: Task; onSubmit: (v: TaskValues) => Promise<void> }) {
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const base = `tf-${props.initial?.id ?? "new"}`;
  const fieldError = (field: string) => (error?.field === field ? error : null);
  async function submit(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const tz = String(f.get("tz") ?? "").trim();
    setBusy(true);
    setError(null);
    try {
      await props.onSubmit({ type: f.get("type") as TaskType, schedule: String(f.get("schedule")), tz: tz || null, prompt: String(f.get("prompt")) });
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(false);
    }
  }
  const described = (field: string) => (fieldError(field) ? `${base}-${field}-error` : undefined);
  return (
    <form class="task-form" onSubmit={submit}>
      <fieldset>
        <legend>{props.legend}</legend>
        <label for={`${base}-type`}>Type</label>
        <select id={`${base}-type`} name="type" defaultValue={props.initial?.type ?? "cron"}>
          <option value="cron">cron</option>
          <option value="interval">interval</option>
          <option value="once">once</option>
          <option value="manual">manual (only Run now)</option>
        </select>
        <label for={`${base}-schedule`}>Schedule</label>
        <input
          id={`${base}-schedule`}
          name="schedule"
          defaultValue={props.initial?.schedule ?? ""}
          placeholder="0 9 * * 1-5, 1h30m or in 10m (empty for manual)"
          aria-invalid={fieldError("schedule") ? true : undefined}
          aria-describedby={described("schedule")}
        />
        <ErrorNote error={fieldError("schedule")} id={`${base}-schedule-error`} />
        <label for={`${base}-tz`}>Time zone (cron only)</label>
        <input id={`${base}-tz`} name="tz" defaultValue={props.initial?.tz ?? ""} placeholder="Europe/Berlin" aria-describedby={described("tz")} />
        <ErrorNote error={fieldError("tz")} id={`${base}-tz-error`} />
        <label for={`${base}-prompt`}>Prompt</label>
        <textarea id={`${base}-prompt`} name="prompt" required rows={3} defaultValue={props.initial?.prompt ?? ""} aria-describedby={described("prompt")} />
        <ErrorNote error={fieldError("prompt")} id={`${base}-prompt-error`} />
        {error && !["schedule", "tz", "prompt"].includes(error.field ?? "") && <ErrorNote error={error} />}
        <button type="submit" disabled={busy}>
          {props.submitLabel}
        </button>
      </fieldset>
    </form>
  );
}
