/** Cost and tokens per day, stacked by channel or model. Loaded on demand: it brings uPlot. */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import type { Channel } from "../../protocol/api.ts";
import type { UsageReport } from "../../protocol/spend.ts";
import { Empty, ErrorNote, Loading, Scroll } from "../components/bits.tsx";
import { tokens, usd } from "../format.ts";
import { navigate } from "../router.ts";
import { dayList, stack, type Measure, type StackBy, type Stacked } from "../usage-series.ts";
import { useApi } from "../use-api.ts";

const RANGES = [7, 14, 30, 90];
/** Distinguishable on light and dark backgrounds (Okabe–Ito). */
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D00", "#6A3D9A"];
const colour = (i: number) => PALETTE[i % PALETTE.length]!;

export default function Usage({ query }: { query: URLSearchParams }) {
  const days = RANGES.includes(Number(query.get("days"))) ? Number(query.get("days")) : 14;
  const by: StackBy = query.get("by") === "model" ? "model" : "channel";
  // The usage ledger, in the browser's own time zone: a run counts on the local day it finished.
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: tz }).format(new Date());
  const dayKeys = dayList(today, days);
  const { data, error } = useApi<UsageReport>(`/api/usage?${new URLSearchParams({ group_by: "day", split_by: by, from: dayKeys[0]!, tz })}`);
  const channels = useApi<{ channels: Channel[] }>(by === "channel" ? "/api/channels" : null);
  const names = Object.fromEntries((channels.data?.channels ?? []).map((c) => [c.id, c.name ?? c.id]));
  const set = (k: string, v: string) => {
    const q = new URLSearchParams(query);
    q.set(k, v);
    navigate(`/usage?${q}`, true);
  };
  return (
    <>
      <h1>Usage</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <div>
          <label for="u-days">Range</label>
          <select id="u-days" value={String(days)} onChange={(e) => set("days", (e.currentTarget as HTMLSelectElement).value)}>
            {RANGES.map((d) => (
              <option key={d} value={d}>
                last {d} days
              </option>
            ))}
          </select>
        </div>
        <fieldset class="radios">
          <legend>Stack by</legend>
          {(["channel", "model"] as const).map((k) => (
            <label key={k}>
              <input type="radio" name="by" value={k} checked={by === k} onChange={() => set("by", k)} /> {k}
            </label>
          ))}
        </fieldset>
      </form>
      <ErrorNote error={error} />
      {!data && !error && <Loading />}
      {data && data.groups.length === 0 && (
        <Empty>No runs in the last {days} days. Costs and tokens appear here once runs finish.</Empty>
      )}
      {data && data.groups.length > 0 && (
        <>
          <p class="muted">
            From the usage ledger (<code>GET /api/usage</code>): each run on the day it finished, in {tz}. Total {usd(data.total.cost_usd)} over {data.total.runs} runs
            {data.total.skipped_budget > 0 && `; ${data.total.skipped_budget} not started over budget`}.
          </p>
          <Chart title="Cost per day (USD)" data={stack(data, dayKeys, by, "cost_usd", names)} measure="cost_usd" />
          <Chart title="Tokens per day (input + output)" data={stack(data, dayKeys, by, "tokens", names)} measure="tokens" />
        </>
      )}
    </>
  );
}

function Chart({ title, data, measure }: { title: string; data: Stacked; measure: Measure }) {
  const box = useRef<HTMLDivElement>(null);
  const fmt = (n: number) => (measure === "cost_usd" ? usd(n) : tokens(n));
  // Axis ticks: short, so they fit the axis ("$0.008", "12k").
  const tick = (n: number) => (measure === "cost_usd" ? `$${n >= 1 ? n.toFixed(2) : Number(n.toPrecision(2))}` : tokens(n));
  useEffect(() => {
    const el = box.current!;
    const x = data.days.map((d) => Date.parse(d) / 1000);
    // The tallest (cumulative) slice first, so each smaller one is drawn over it.
    const drawn = [...data.groups].map((g, i) => ({ g, i })).reverse();
    const plot = new uPlot(
      {
        width: el.clientWidth,
        height: 220,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ stroke: "currentColor", grid: { show: false } }, { stroke: "currentColor", size: 64, values: (_u, ticks) => ticks.map(tick) }],
        series: [
          {},
          ...drawn.map(({ g, i }) => ({
            label: g.label,
            fill: colour(i),
            stroke: colour(i),
            paths: uPlot.paths.bars!({ size: [0.7, 48] }),
            points: { show: false },
          })),
        ],
      },
      [x, ...drawn.map(({ g }) => g.cumulative)],
      el,
    );
    const resize = new ResizeObserver(() => plot.setSize({ width: el.clientWidth, height: 220 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.destroy();
    };
  }, [data]);
  const titleId = `chart-${measure}`;
  return (
    <section class="chart" aria-labelledby={titleId}>
      <h2 id={titleId}>{title}</h2>
      <div ref={box} role="img" aria-label={`${title}, stacked bars; the table below has the same figures`} />
      <ul class="legend">
        {data.groups.map((g, i) => (
          <li key={g.key}>
            <span class="swatch" style={{ background: colour(i) }} aria-hidden="true" /> {g.label}: {fmt(g.total)}
          </li>
        ))}
      </ul>
      <details>
        <summary>Figures per day</summary>
        <Scroll label={`${title}: figures per day`}>
          <table>
            <thead>
              <tr>
                <th scope="col">Day</th>
                {data.groups.map((g) => (
                  <th scope="col" key={g.key}>
                    {g.label}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.days.map((d, i) => (
                <tr key={d}>
                  <th scope="row">{d}</th>
                  {data.groups.map((g) => (
                    <td key={g.key}>{fmt(g.values[i]!)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </Scroll>
      </details>
    </section>
  );
}
