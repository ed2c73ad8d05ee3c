import type { Channel } from "../../protocol/api.ts";
import { DataTable, Empty, ErrorNote, Loading } from "../components/bits.tsx";
import { useApi } from "../use-api.ts";

export const discordLink = (c: Channel): string | null =>
  c.discord_channel_id && c.guild_id ? `https://discord.com/channels/${c.guild_id}/${c.discord_channel_id}` : null;

export function Channels() {
  const { data, error } = useApi<{ channels: Channel[] }>("/api/channels");
  if (!data) return error ? <ErrorNote error={error} /> : <Loading />;
  return (
    <>
      <h1>Channels</h1>
      {data.channels.length === 0 ? (
        <Empty>
          No channels yet. Run <code>npx loop onboard:local</code> in a project directory, <code>/loop dir</code> in Discord, or{" "}
          <code>POST /api/channels</code> with a <code>dir_path</code>.
        </Empty>
      ) : (
        <DataTable label="Channels" columns={["Channel", "Directory", "Discord", "Session", "Runner label"]}>
          {data.channels.map((c) => {
            const discord = discordLink(c);
            return (
              <tr key={c.id}>
                <td>
                  <a href={`/channels/${encodeURIComponent(c.id)}`}>{c.name}</a>
                </td>
                <td>
                  <code>{c.dir_path ?? "—"}</code>
                </td>
                <td>{discord ? <a href={discord}>open in Discord</a> : <span class="muted">none</span>}</td>
                <td>{c.session_id ? <code title={c.session_id}>{c.session_id.slice(0, 8)}</code> : <span class="muted">fresh</span>}</td>
                <td>{c.runner_label ?? <span class="muted">any runner</span>}</td>
              </tr>
            );
          })}
        </DataTable>
      )}
    </>
  );
}
