import type { RunStatus } from "../../protocol/api.ts";
import type { Overview as OverviewData } from "../../protocol/dashboard.ts";
import { DataTable, Empty, ErrorNote, Loading, Status, When } from "../components/bits.tsx";
import { local, truncate, usd } from "../format.ts";
import { useApi } from "../use-api.ts";

/** The overview refreshes itself: runners come and go, the queue moves. */
const POLL_MS = 5_000;
const STATUS_ORDER: RunStatus[] = ["queued", "running", "succeeded", "failed", "cancelled", "lost"];

export function Overview() {
  const { data, error } = useApi<OverviewData>("/api/dashboard/overview", POLL_MS);
  if (!data) return error ? <ErrorNote error={error} /> : <Loading />;
  const online = data.runners?.filter((r) => r.online) ?? [];
  return (
    <>
      <h1>Overview</h1>
      <ErrorNote error={error} />
      <div class="cards">
        <section class="card" aria-labelledby="q-title">
          <h2 id="q-title">Queue</h2>
          <p class="figure" data-testid="queue-depth">
            {data.queue_depth}
            <span class="unit"> queued</span>
          </p>
          <p class="muted">{data.running} running</p>
        </section>
        <section class="card" aria-labelledby="spend-title">
          <h2 id="spend-title">Spend today</h2>
          <p class="figure">{usd(data.spend_today_usd)}</p>
          <p class="muted">
            {data.budget_today_usd === null
              ? "No daily budget set."
              : `${usd(data.budget_spent_today_usd)} of the ${usd(data.budget_today_usd)} daily budget used`}
          </p>
        </section>
        <section class="card" aria-labelledby="today-title">
          <h2 id="today-title">Runs today</h2>
          <ul class="counts">
            {STATUS_ORDER.map((s) => (
              <li key={s}>
                <a href={`/runs?status=${s}`}>
                  <Status status={s} /> <strong>{data.runs_today[s]}</strong>
                </a>
              </li>
            ))}
          </ul>
        </section>
      </div>

      <section aria-labelledby="runners-title">
        <h2 id="runners-title">
          Runners {data.runners && <span class="muted">({online.length} of {data.runners.length} online)</span>}
        </h2>
        {data.runners === null ? (
          <Empty>Runners are shown to admin tokens only.</Empty>
        ) : online.length === 0 ? (
          <Empty>
            No runner online: run <code>loop runner</code> on your Docker host (<code>npm run dev</code> starts one locally). Queued runs wait
            until one claims them.
          </Empty>
        ) : null}
        {data.runners && data.runners.length > 0 && (
          <DataTable label="Runners" columns={["Runner", "State", "Labels", "Last seen", "Leases"]}>
            {data.runners.map((r) => (
              <tr key={r.id}>
                <td>{r.name}</td>
                <td>
                  <span class={r.online ? "dot on" : "dot off"} aria-hidden="true" /> {r.online ? "online" : "offline"}
                </td>
                <td>{r.labels.length ? r.labels.join(", ") : <span class="muted">any</span>}</td>
                <td>
                  <When iso={r.last_seen_at} />
                </td>
                <td>
                  {r.leases.length === 0 ? (
                    <span class="muted">idle</span>
                  ) : (
                    r.leases.map((l) => (
                      <a key={l.run_id} href={`/runs/${l.run_id}`} class="chip">
                        run {l.run_id}
                      </a>
                    ))
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section aria-labelledby="next-title">
        <h2 id="next-title">Next scheduled</h2>
        {data.next_firings.length === 0 ? (
          <Empty>
            Nothing scheduled. Add a task on a <a href="/channels">channel</a>, with <code>/loop schedule</code> in Discord, or{" "}
            <code>POST /api/tasks</code>.
          </Empty>
        ) : (
          <DataTable label="Next scheduled firings" columns={["When", "Channel", "Task"]}>
            {data.next_firings.map((f) => (
              <tr key={`${f.task_id}-${f.at}`}>
                <td>
                  <When iso={f.at} /> <span class="muted">{local(f.at)}</span>
                </td>
                <td>
                  <a href={`/channels/${encodeURIComponent(f.channel_id)}`}>{f.channel_name}</a>
                </td>
                <td>
                  #{f.task_id} {truncate(f.prompt, 80)}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>
    </>
  );
}
