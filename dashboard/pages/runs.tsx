import type { Channel, Run } from "../../protocol/api.ts";
import { Empty, ErrorNote, Loading } from "../components/bits.tsx";
import { RunTable } from "../components/run-table.tsx";
import { navigate } from "../router.ts";
import { useApi } from "../use-api.ts";

const PAGE = 25;
const STATUSES = ["queued", "running", "succeeded", "failed", "cancelled", "lost"];
const TRIGGERS = ["discord", "schedule", "mcp", "api"];
const FILTERS = ["channel_id", "task_id", "status", "trigger"] as const;

export function Runs({ query }: { query: URLSearchParams }) {
  const params = new URLSearchParams();
  for (const k of [...FILTERS, "before"]) {
    const v = query.get(k);
    if (v) params.set(k, v);
  }
  params.set("limit", String(PAGE));
  const runs = useApi<{ runs: Run[] }>(`/api/runs?${params}`, query.get("before") ? undefined : 5_000);
  const channels = useApi<{ channels: Channel[] }>("/api/channels");
  const names = new Map(channels.data?.channels.map((c) => [c.id, c.name]) ?? []);

  function apply(e: Event) {
    e.preventDefault();
    const f = new FormData(e.currentTarget as HTMLFormElement);
    const next = new URLSearchParams();
    for (const k of FILTERS) {
      const v = String(f.get(k) ?? "").trim();
      if (v) next.set(k, v);
    }
    navigate(`/runs${next.size ? `?${next}` : ""}`);
  }
  const older = (list: Run[]) => {
    const q = new URLSearchParams(query);
    q.set("before", String(list.at(-1)!.id));
    return `/runs?${q}`;
  };
  const newest = () => {
    const q = new URLSearchParams(query);
    q.delete("before");
    return `/runs${q.size ? `?${q}` : ""}`;
  };

  return (
    <>
      <h1>Runs</h1>
      <form class="filters" onSubmit={apply} key={query.toString()}>
        <div>
          <label for="f-channel">Channel</label>
          <select id="f-channel" name="channel_id" defaultValue={query.get("channel_id") ?? ""}>
            <option value="">all</option>
            {channels.data?.channels.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-task">Task id</label>
          <input id="f-task" name="task_id" inputMode="numeric" pattern="[0-9]*" size={6} defaultValue={query.get("task_id") ?? ""} />
        </div>
        <div>
          <label for="f-status">Status</label>
          <select id="f-status" name="status" defaultValue={query.get("status") ?? ""}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <div>
          <label for="f-trigger">Trigger</label>
          <select id="f-trigger" name="trigger" defaultValue={query.get("trigger") ?? ""}>
            <option value="">any</option>
            {TRIGGERS.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </div>
        <button type="submit">Filter</button>
      </form>
      <ErrorNote error={runs.error} />
      {!runs.data && !runs.error && <Loading />}
      {runs.data && runs.data.runs.length === 0 && (
        <Empty>
          No runs {query.size ? "match these filters" : "yet"}. Start one with <strong>Run now</strong> on a channel's task, <code>/loop ask</code>{" "}
          in Discord, or <code>POST /api/runs</code>.
        </Empty>
      )}
      {runs.data && runs.data.runs.length > 0 && <RunTable runs={runs.data.runs} label="Runs" channelNames={names} />}
      <nav class="pager" aria-label="Pages of runs">
        {query.get("before") && <a href={newest()}>Newest</a>}
        {runs.data && runs.data.runs.length === PAGE && <a href={older(runs.data.runs)}>Older</a>}
      </nav>
    </>
  );
}
