import type { Run } from "../../protocol/api.ts";
import { duration, truncate, usd } from "../format.ts";
import { DataTable, Status, When } from "./bits.tsx";

export function RunTable({ runs, label, channelNames }: { runs: Run[]; label: string; channelNames?: Map<string, string> }) {
  return (
    <DataTable label={label} columns={["Run", "Status", channelNames && "Channel", "Trigger", "Prompt", "Created", "Duration", "Cost"]}>
      {runs.map((r) => (
        <tr key={r.id}>
          <td>
            <a href={`/runs/${r.id}`}>#{r.id}</a>
          </td>
          <td>
            <Status status={r.status} />
          </td>
          {channelNames && (
            <td>
              <a href={`/channels/${encodeURIComponent(r.channel_id)}`}>{channelNames.get(r.channel_id) ?? r.channel_id}</a>
            </td>
          )}
          <td>
            {r.trigger}
            {r.task_id !== null && <span class="muted"> · task {r.task_id}</span>}
          </td>
          <td class="prompt">{truncate(r.prompt, 60)}</td>
          <td>
            <When iso={r.created_at} />
          </td>
          <td>{r.started_at ? duration(r.started_at, r.finished_at) : "—"}</td>
          <td>{usd(r.cost_usd)}</td>
        </tr>
      ))}
    </DataTable>
  );
}
