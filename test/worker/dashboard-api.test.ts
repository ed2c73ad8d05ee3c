/**
 * The dashboard's side of the Worker: signing in with a pasted token (a session cookie with
 * the token's exact scope), CSRF on writes, sign-out, and the overview and usage read models.
 */
import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { Overview, Session } from "../../protocol/dashboard.ts";
import { UsageReport } from "../../protocol/spend.ts";
import {
  ADMIN,
  BASE,
  call,
  callOk,
  ChannelList,
  createChannel,
  createTask,
  expectError,
  insertRun,
  mintToken,
  Run,
  RunList,
  sha256,
  snapshotStore,
  TaskWithPreview,
  type Channel,
} from "./helpers.ts";

interface SignedIn {
  cookie: string;
  setCookie: string;
  session: Session;
}

async function signIn(token: string, base = BASE): Promise<SignedIn> {
  const res = await SELF.fetch(`${base}/api/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token }),
  });
  const text = await res.text();
  expect(res.status, text).toBe(201);
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = /^(loop_session=[^;]+)/.exec(setCookie)![1]!;
  return { cookie, setCookie, session: Session.parse(JSON.parse(text)) };
}

/** A request as the dashboard sends it: the cookie, no Authorization header. */
function withCookie(path: string, s: SignedIn, init: { method?: string; body?: unknown; csrf?: string | null; origin?: string } = {}) {
  const headers = new Headers({ cookie: s.cookie });
  const csrf = init.csrf === undefined ? s.session.csrf_token : init.csrf;
  if (csrf) headers.set("x-csrf-token", csrf);
  if (init.origin) headers.set("origin", init.origin);
  if (init.body !== undefined) headers.set("content-type", "application/json");
  return SELF.fetch(`${BASE}${path}`, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

let own: Channel;
let other: Channel;
let scoped: string;
let scopedId: string;

beforeAll(async () => {
  own = await createChannel({ name: "dash-own" });
  other = await createChannel({ name: "dash-other" });
  const minted = await mintToken([own.id], { name: "dashboard scoped" });
  scoped = minted.token;
  scopedId = minted.id;
});

describe("sign-in", () => {
  it("exchanges the admin secret for an HttpOnly, Secure, SameSite=Strict, expiring cookie", async () => {
    const s = await signIn(ADMIN);
    expect(s.setCookie).toMatch(/HttpOnly/i);
    expect(s.setCookie).toMatch(/Secure/i);
    expect(s.setCookie).toMatch(/SameSite=Strict/i);
    expect(s.setCookie).toMatch(/Path=\//);
    expect(s.setCookie).toMatch(/Expires=/i);
    expect(s.session).toMatchObject({ kind: "admin", channel_ids: null });
    expect(s.session.csrf_token).toMatch(/^[\w-]{20,}$/);
    // The cookie is not the token, and only its hash is stored.
    expect(s.cookie).not.toContain(ADMIN);
    const secret = s.cookie.slice("loop_session=".length);
    const rows = await env.DB.prepare("select id from dashboard_sessions where id = ?").bind(await sha256(secret)).all();
    expect(rows.results).toHaveLength(1);
    const raw = await env.DB.prepare("select * from dashboard_sessions").all();
    expect(JSON.stringify(raw.results)).not.toContain(secret);
  });

  it("leaves Secure off on plain-http localhost, where the browser would drop it", async () => {
    const s = await signIn(ADMIN, "http://localhost:8787");
    expect(s.setCookie).not.toMatch(/Secure/i);
    expect(s.setCookie).toMatch(/HttpOnly/i);
  });

  it("the cookie alone authenticates reads, and GET /api/session hands back the CSRF token", async () => {
    const s = await signIn(ADMIN);
    const res = await withCookie("/api/channels", s);
    expect(res.status).toBe(200);
    const { channels } = ChannelList.parse(await res.json());
    expect(channels.map((c) => c.id)).toEqual(expect.arrayContaining([own.id, other.id]));
    const me = Session.parse(await (await withCookie("/api/session", s)).json());
    expect(me).toMatchObject({ kind: "admin", csrf_token: s.session.csrf_token });
  });

  it("a scoped token's session sees exactly its channels, and 404 for the others", async () => {
    const s = await signIn(scoped);
    expect(s.session).toMatchObject({ kind: "channels", channel_ids: [own.id] });
    const { channels } = ChannelList.parse(await (await withCookie("/api/channels", s)).json());
    expect(channels.map((c) => c.id)).toEqual([own.id]);
    const res = await withCookie(`/api/channels/${other.id}`, s);
    const text = await res.text();
    expect(res.status).toBe(404);
    expect(text).not.toContain(other.dir_path!);
    expect(text).not.toContain("dash-other");
  });

  it("refuses a missing, wrong, run or runner token, naming the field, and stores nothing", async () => {
    const before = await env.DB.prepare("select count(*) as n from dashboard_sessions").first<{ n: number }>();
    await expectError(await call("/api/session", { method: "POST", body: {}, token: null }), 422, { field: "token" });
    await expectError(await call("/api/session", { method: "POST", body: "{", token: null }), 400, { code: "invalid_json" });
    await expectError(await call("/api/session", { method: "POST", body: { token: "loop_api_nope" }, token: null }), 401);
    const runner = (await (await call("/api/runners", { method: "POST", body: { name: `dash-${crypto.randomUUID()}` } })).json()) as { token: string };
    await expectError(await call("/api/session", { method: "POST", body: { token: runner.token }, token: null }), 401);
    const runId = await insertRun({ channelId: own.id });
    const runSecret = `loop_run_${crypto.randomUUID()}`;
    await env.DB.prepare("insert into api_tokens (id, name, token_hash, scope, run_id) values (?, 'run', ?, ?, ?)")
      .bind(`tok_run_${runId}`, await sha256(runSecret), JSON.stringify([own.id]), runId)
      .run();
    await expectError(await call("/api/session", { method: "POST", body: { token: runSecret }, token: null }), 422, { field: "token" });
    const after = await env.DB.prepare("select count(*) as n from dashboard_sessions").first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
  });
});

describe("writes with the cookie", () => {
  it("need the session's CSRF token; without it nothing changes", async () => {
    const s = await signIn(scoped);
    const task = await createTask(own.id, { prompt: "csrf target" });
    const before = await snapshotStore();
    await expectError(await withCookie(`/api/tasks/${task.id}`, s, { method: "PATCH", body: { enabled: false }, csrf: null }), 403, { code: "csrf" });
    await expectError(await withCookie(`/api/tasks/${task.id}`, s, { method: "PATCH", body: { enabled: false }, csrf: "forged-token-value" }), 403, { code: "csrf" });
    await expectError(
      await withCookie(`/api/tasks/${task.id}`, s, { method: "PATCH", body: { enabled: false }, origin: "https://evil.example" }),
      403,
      { code: "csrf" },
    );
    expect(await snapshotStore()).toEqual(before);

    const ok = await withCookie(`/api/tasks/${task.id}`, s, { method: "PATCH", body: { enabled: false }, origin: BASE });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ id: task.id, enabled: false });
  });

  it("stay inside the token's scope", async () => {
    const s = await signIn(scoped);
    const res = await withCookie("/api/runs", s, { method: "POST", body: { channel_id: other.id, prompt: "not mine" } });
    await expectError(res, 404);
  });
});

describe("sign-out and revocation", () => {
  it("sign-out deletes the session and clears the cookie; the old cookie is refused", async () => {
    const s = await signIn(ADMIN);
    const noCsrf = await withCookie("/api/session", s, { method: "DELETE", csrf: null });
    await expectError(noCsrf, 403, { code: "csrf" });
    const res = await withCookie("/api/session", s, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(res.headers.get("set-cookie")).toMatch(/loop_session=;.*Max-Age=0/i);
    await expectError(await withCookie("/api/channels", s), 401, { code: "session_ended" });
  });

  it("deleting the token ends its sessions", async () => {
    const minted = await mintToken([own.id], { name: "short-lived" });
    const s = await signIn(minted.token);
    expect((await withCookie("/api/channels", s)).status).toBe(200);
    expect((await call(`/api/tokens/${minted.id}`, { method: "DELETE" })).status).toBe(204);
    await expectError(await withCookie("/api/channels", s), 401, { code: "session_ended" });
  });

  it("an expired session is refused", async () => {
    const s = await signIn(scoped);
    await env.DB.prepare("update dashboard_sessions set expires_at = ? where token_id = ?").bind(Date.now() - 1, scopedId).run();
    await expectError(await withCookie("/api/channels", s), 401, { code: "session_ended" });
  });

  it("a bearer token cannot 'sign out'; it is revoked with DELETE /api/tokens/:id", async () => {
    await expectError(await call("/api/session", { method: "DELETE" }), 422);
    const me = await callOk(Session, "/api/session");
    expect(me).toMatchObject({ kind: "admin", csrf_token: null });
  });
});

describe("overview", () => {
  it("counts the queue, today's runs by status and spend, and lists the next firings in order", async () => {
    const ch = await createChannel({ name: "overview-channel" });
    const token = (await mintToken([ch.id])).token;
    await insertRun({ channelId: ch.id, status: "queued" });
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 0.25 });
    await insertRun({ channelId: ch.id, status: "failed", costUsd: 0.5 });
    await insertRun({ channelId: ch.id, status: "succeeded", costUsd: 4, createdAt: Date.now() - 3 * 86_400_000 });
    await createTask(ch.id, { type: "interval", schedule: "7m", prompt: "every seven" });
    await createTask(ch.id, { type: "interval", schedule: "1h", prompt: "hourly" });
    await createTask(own.id, { type: "interval", schedule: "1m", prompt: "someone else's" });

    const o = await callOk(Overview, "/api/dashboard/overview", { token });
    expect(o.runners).toBeNull();
    expect(o.queue_depth).toBe(1);
    expect(o.runs_today).toMatchObject({ queued: 1, succeeded: 1, failed: 1, running: 0 });
    expect(o.spend_today_usd).toBeCloseTo(0.75);
    expect(o.next_firings).toHaveLength(10);
    expect(o.next_firings.every((f) => f.channel_id === ch.id && f.channel_name === "overview-channel")).toBe(true);
    const times = o.next_firings.map((f) => f.at);
    expect([...times].sort()).toEqual(times);
    // Seven-minute occurrences fill the first hour; the hourly task appears once.
    expect(o.next_firings.filter((f) => f.prompt === "hourly")).toHaveLength(1);
  });

  it("shows admins the runners, online when seen within the last minute", async () => {
    const name = `dash-runner-${crypto.randomUUID().slice(0, 8)}`;
    const created = (await (await call("/api/runners", { method: "POST", body: { name } })).json()) as { id: string; token: string };
    await SELF.fetch(`${BASE}/runner/v1/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${created.token}`, "content-type": "application/json" },
      body: JSON.stringify({ wait_ms: 0 }),
    });
    const o = await callOk(Overview, "/api/dashboard/overview");
    expect(o.runners!.find((r) => r.id === created.id)).toMatchObject({ name, online: true, leases: [] });
    expect(o).toMatchObject({ budget_today_usd: null, budget_spent_today_usd: null });
  });

  it("shows admins the global daily budget and what it has counted", async () => {
    expect((await call("/api/budget", { method: "PUT", body: { daily_usd: 123456 } })).status).toBe(200);
    try {
      const o = await callOk(Overview, "/api/dashboard/overview");
      expect(o.budget_today_usd).toBe(123456);
      expect(o.budget_spent_today_usd).toBeGreaterThanOrEqual(0);
      const scoped = await callOk(Overview, "/api/dashboard/overview", { token: (await mintToken([own.id])).token });
      expect(scoped).toMatchObject({ budget_today_usd: null, runners: null });
    } finally {
      await call("/api/budget", { method: "PUT", body: { daily_usd: null } });
    }
  });
});

describe("usage per day and channel or model (the Usage page's query of the ledger)", () => {
  it("splits each day by channel or by model, inside the token's scope, in the asked time zone", async () => {
    const ch = await createChannel({ name: "usage-channel" });
    const ch2 = await createChannel({ name: "usage-channel-2" });
    const token = (await mintToken([ch.id, ch2.id])).token;
    // 2026-11-10 23:30 UTC is already 2026-11-11 in Berlin (UTC+1 in November).
    const late = Date.parse("2026-11-10T23:30:00Z");
    const noon = Date.parse("2026-11-10T12:00:00Z");
    const done = (channelId: string, finishedAt: number, model: string, costUsd: number, inputTokens = 1, outputTokens = 1) =>
      insertRun({ channelId, status: "succeeded", createdAt: finishedAt - 60_000, finishedAt, model, costUsd, inputTokens, outputTokens });
    await done(ch.id, noon, "opus", 1, 10, 1);
    await done(ch.id, noon + 1000, "opus", 2, 20, 2);
    await done(ch2.id, noon, "haiku", 0.5);
    await done(ch.id, late, "haiku", 4);
    await done(other.id, noon, "opus", 100);
    const q = "from=2026-11-09&to=2026-11-13&group_by=day";

    const byChannel = await callOk(UsageReport, `/api/usage?${q}&split_by=channel&tz=Europe/Berlin`, { token });
    expect(byChannel.split_by).toBe("channel");
    expect(byChannel.groups.map((g) => [g.key, g.split, g.runs, g.cost_usd])).toEqual([
      ["2026-11-10", ch.id, 2, 3],
      ["2026-11-10", ch2.id, 1, 0.5],
      ["2026-11-11", ch.id, 1, 4],
    ]);
    expect(byChannel.total.cost_usd).toBe(7.5); // not the other channel's 100

    const byModel = await callOk(UsageReport, `/api/usage?${q}&split_by=model`, { token });
    expect(byModel.groups.map((g) => [g.key, g.split, g.input_tokens, g.cost_usd])).toEqual([
      ["2026-11-10", "haiku", 2, 4.5],
      ["2026-11-10", "opus", 30, 3],
    ]);
  });

  it("refuses a split it cannot make, naming the field", async () => {
    await expectError(await call("/api/usage?split_by=channel"), 422, { field: "split_by" });
    await expectError(await call("/api/usage?group_by=day&split_by=day"), 422, { field: "split_by" });
    await expectError(await call("/api/usage?group_by=day&split_by=colour"), 422, { field: "split_by" });
  });

  it("the dashboard's own usage route is gone: the page reads the ledger", async () => {
    expect((await call("/api/dashboard/usage?days=7")).status).toBe(404);
  });
});

describe("REST the dashboard's pages use", () => {
  it("POST /api/tasks/:id/run queues the task's prompt now and leaves its schedule alone", async () => {
    const task = await createTask(own.id, { prompt: "run me now", schedule: "1h" });
    const run = await callOk(Run, `/api/tasks/${task.id}/run`, { method: "POST", token: scoped }, 201);
    expect(run).toMatchObject({ task_id: task.id, channel_id: own.id, prompt: "run me now", trigger: "api", status: "queued" });
    expect((await callOk(TaskWithPreview, `/api/tasks/${task.id}`)).next_run_at).toBe(task.next_run_at);
    await call(`/api/runs/${run.id}/cancel`, { method: "POST" });
  });

  it("a scoped token cannot run another channel's task", async () => {
    const task = await createTask(other.id, { prompt: "not yours" });
    await expectError(await call(`/api/tasks/${task.id}/run`, { method: "POST", token: scoped }), 404);
  });

  it("GET /api/runs filters by trigger, and refuses an unknown one naming the field", async () => {
    const ch = await createChannel();
    const viaMcp = await insertRun({ channelId: ch.id, trigger: "mcp" });
    await insertRun({ channelId: ch.id, trigger: "schedule" });
    const { runs } = await callOk(RunList, `/api/runs?channel_id=${ch.id}&trigger=mcp`);
    expect(runs.map((r) => r.id)).toEqual([viaMcp]);
    await expectError(await call("/api/runs?trigger=carrier-pigeon"), 422, { field: "trigger" });
  });
});
