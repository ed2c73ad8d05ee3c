/** One metered thing the bench build of the Worker did (bench/meter), as bench/cost reads it. */
export type MeterEvent =
  | { k: "worker"; route: string; at: number }
  | { k: "cron"; at: number }
  | { k: "do"; cls: string; method: string; at: number }
  | { k: "d1"; read: number; written: number; sql: string; at: number };

/** The prefix of a meter line on the Worker's stdout. */
export const METER_PREFIX = "LOOP_METER ";
