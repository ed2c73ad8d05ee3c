/**
 * Local days in an IANA time zone, with nothing but Intl: which day an instant falls on,
 * and when a day begins (daylight-saving gaps and offsets like +05:45 included). Pure.
 */

/** Every IANA offset in use is a multiple of 15 minutes. */
export const QUARTER_MS = 900_000;

/** YYYY-MM-DD of an instant in a time zone. */
export function localDay(ms: number, tz: string): string {
  // en-CA formats dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(ms);
}

/** The instant a local date begins in a time zone (midnight, or the first valid time after a gap). */
export function startOfLocalDay(date: string, tz: string): number {
  const [y, m, d] = date.split("-").map(Number) as [number, number, number];
  const guess = Date.UTC(y, m - 1, d);
  // The zone's offset near that date, applied twice: once to land near, once to settle.
  let t = guess;
  for (let i = 0; i < 2; i++) t = guess - offsetAt(t, tz);
  // A midnight that does not exist (a DST gap at 00:00) starts at the first valid instant.
  while (localDay(t, tz) < date) t += QUARTER_MS;
  while (localDay(t - QUARTER_MS, tz) === date) t -= QUARTER_MS;
  return t;
}

function offsetAt(ms: number, tz: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: tz, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric", second: "numeric",
  }).formatToParts(ms);
  const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
  const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"), get("second"));
  return asUtc - (ms - (ms % 1000));
}

