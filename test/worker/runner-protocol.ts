/**
 * Playing a runner over /runner/v1 in workerd, shared by the pipeline and approval tests.
 * The Dispatcher is one object shared by every test in a file, so each test pins its
 * channels to a label of its own and registers runners holding only that label: no test
 * claims another's job.
 */
import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { Job } from "../../protocol/runner.ts";

export interface Answer {
  status: number;
  body: any;
}

/** One JSON request through the real Worker with a bearer token. */
export async function api(method: string, path: string, token: string, body?: unknown): Promise<Answer> {
  const res = await SELF.fetch(`http://loop.test${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

export const admin = (method: string, path: string, body?: unknown): Promise<Answer> => api(method, path, env.ADMIN_TOKEN!, body);

let seq = 0;

/** A label no other test uses; `prefix` names the file in logs. */
export const freshLabel = (prefix: string): string => `${prefix}${++seq}-${crypto.randomUUID().slice(0, 8)}`;

/** A channel with a directory of its own, pinned to `label`. */
export async function newChannel(label: string): Promise<string> {
  const { body } = await admin("POST", "/api/channels", { dir_path: `/home/me/${label}-${crypto.randomUUID()}` });
  expect((await admin("PATCH", `/api/channels/${body.id}`, { runner_label: label })).status).toBe(200);
  return body.id as string;
}

export interface LabelledSetup {
  label: string;
  channel: string;
  /** The first runner's token. */
  runner: string;
  runners: string[];
}

/** A channel pinned to a fresh label, and `runnerCount` runners holding that label. */
export async function labelledSetup(prefix: string, runnerCount = 1): Promise<LabelledSetup> {
  const label = freshLabel(prefix);
  const channel = await newChannel(label);
  const runners: string[] = [];
  for (let i = 0; i < runnerCount; i++) {
    const r = await admin("POST", "/api/runners", { name: `${label}-r${i}`, labels: [label] });
    expect(r.status).toBe(201);
    runners.push(r.body.token);
  }
  return { label, channel, runner: runners[0]!, runners };
}

/** A run asked for over REST (as /loop ask or MCP would). */
export const ask = async (channelId: string, prompt = "hello") => (await admin("POST", "/api/runs", { channel_id: channelId, prompt })).body;

/** A claim: the Job, or null when nothing was ready within wait_ms. */
export async function claim(token: string, wait_ms = 0): Promise<Job | null> {
  const res = await api("POST", "/runner/v1/claim", token, { wait_ms });
  if (res.status === 204) return null;
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return Job.parse(res.body);
}

/** A successful completion; `extra` overrides any field. */
export const complete = (token: string, job: Job, extra: object = {}): Promise<Answer> =>
  api("POST", `/runner/v1/runs/${job.run_id}/complete`, token, {
    lease_id: job.lease_id,
    status: "succeeded",
    result_text: "done",
    session_id: "sess-1",
    usage: { input_tokens: 10, output_tokens: 20 },
    cost_usd: 0.01,
    exit_code: 0,
    model: "claude-test",
    ...extra,
  });

export const getRun = async (id: number) => (await admin("GET", `/api/runs/${id}`)).body;
