/** Small shared pieces: status badges, errors beside their control, empty states, scroll boxes. */
import type { ComponentChildren } from "preact";
import type { RunStatus } from "../../protocol/api.ts";
import type { ApiError } from "../api.ts";
import { local, relative } from "../format.ts";

export function Status({ status }: { status: RunStatus | string }) {
  return <span class={`status status-${status}`}>{status.replace("_", " ")}</span>;
}

/** An API error, shown where the action was taken; role=alert so screen readers hear it. */
export function ErrorNote({ error, id }: { error: ApiError | null | undefined; id?: string }) {
  if (!error) return null;
  return (
    <p class="error" role="alert" id={id}>
      {error.message}
    </p>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

/** Tables scroll sideways on a phone; the region is focusable so keyboards can scroll it too. */
export function Scroll({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="scroll" role="region" aria-label={label} tabIndex={0}>
      {children}
    </div>
  );
}

/**
 * A table of records that scrolls sideways on a phone: column headers (falsy ones left out,
 * for columns shown only sometimes) and the rows the caller renders.
 */
export function DataTable({ label, columns, children }: { label: string; columns: (string | false | undefined)[]; children: ComponentChildren }) {
  return (
    <Scroll label={label}>
      <table>
        <thead>
          <tr>
            {columns.filter(Boolean).map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </Scroll>
  );
}

export function When({ iso }: { iso: string | null }) {
  if (!iso) return <span>—</span>;
  return (
    <time dateTime={iso} title={local(iso)}>
      {relative(iso)}
    </time>
  );
}

export function Loading() {
  return <p class="muted" aria-live="polite">Loading…</p>;
}
