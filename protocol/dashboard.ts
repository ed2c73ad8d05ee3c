/**
 * The dashboard's wire format: signing in with a token (a session cookie), and the two read
 * models the dashboard shows that no other endpoint answers in one request (the overview and
 * usage per day). Every other page reads the ordinary REST API (protocol/api.ts).
 */
import { z } from "zod";
import { Lease, RunStatus } from "./api.ts";

/** The cookie that carries a dashboard session; HttpOnly, so scripts never see it. */
export const SESSION_COOKIE = "loop_session";
/** Writes made with the session cookie must echo the session's CSRF token in this header. */
export const CSRF_HEADER = "x-csrf-token";

export const SignIn = z.strictObject({ token: z.string().trim().min(1, "paste a token").max(200) });
export type SignIn = z.infer<typeof SignIn>;

/** Who the session (or bearer token) is, as the dashboard shows it. */
export const Session = z.object({
  kind: z.enum(["admin", "channels", "run"]),
  /** The channels a scoped token sees; null for admin. */
  channel_ids: z.array(z.string()).nullable(),
  /** Present only when the caller authenticated with the session cookie. */
  csrf_token: z.string().nullable(),
  expires_at: z.string().nullable(),
});
export type Session = z.infer<typeof Session>;

export const OverviewRunner = z.object({
  id: z.string(),
  name: z.string(),
  labels: z.array(z.string()),
  last_seen_at: z.string().nullable(),
  /** Seen within RUNNER_ONLINE_WINDOW_MS (an idle runner claims at least every MAX_CLAIM_WAIT_MS). */
  online: z.boolean(),
  leases: z.array(Lease),
});
export type OverviewRunner = z.infer<typeof OverviewRunner>;

export const Firing = z.object({
  task_id: z.number().int(),
  channel_id: z.string(),
  channel_name: z.string(),
  prompt: z.string(),
  at: z.string(),
});
export type Firing = z.infer<typeof Firing>;

export const Overview = z.object({
  /** Only admins may list runners; null for a scoped token. */
  runners: z.array(OverviewRunner).nullable(),
  queue_depth: z.number().int(),
  running: z.number().int(),
  /** Runs created since 00:00 UTC, by status. */
  runs_today: z.record(RunStatus, z.number().int()),
  spend_today_usd: z.number(),
  /** The global daily budget and what it has counted so far in its period (admins only; null when none is set). */
  budget_today_usd: z.number().nullable(),
  budget_spent_today_usd: z.number().nullable(),
  next_firings: z.array(Firing),
});
export type Overview = z.infer<typeof Overview>;

