// What a run's Claude Code sends to Loop's MCP endpoint, counted on the wire: the real
// claude CLI in a real container, a real Worker (wrangler dev) and runner, the fake Anthropic
// API. The Worker's PUBLIC_URL is a recording HTTP proxy in front of it, so the MCP URL the
// job carries (and everything the runner sends) goes through the proxy.
//
// Claude Code speaks MCP 2026-07-28: with a server that answers server/discover and lists
// no listChanged, it needs server/discover and tools/list before its first tools/call, and
// neither initialize, notifications/initialized, a GET stream nor subscriptions/listen
// (issue 15: a job's Worker requests).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hasToolResult, isMainTurn } from "../fakes/anthropic.ts";
import { startRecordingProxy, type RecordingProxy } from "../support/recording-proxy.ts";
import { agentDir, createRun, makeChannel, registerRunner, runnerConfig, setRules, setupEnv, startTestRunner, waitForRun, type Env, type TestRunner } from "./helpers.ts";

let proxy: RecordingProxy;
let env: Env;
let runner: TestRunner | undefined;

beforeAll(async () => {
  proxy = await startRecordingProxy();
  env = await setupEnv({ vars: { PUBLIC_URL: proxy.url, LOG_LEVEL: "error" } });
  proxy.forwardTo(env.worker.url);
}, 300_000);

afterAll(async () => {
  await runner?.stop();
  await env?.close();
  await proxy?.close();
});

describe("a run's Claude Code and Loop's MCP endpoint", () => {
  it("reaches its first tools/call after server/discover and tools/list only, all in the 2026-07-28 revision", async () => {
    runner = await startTestRunner(runnerConfig(env, await registerRunner(env), { worker_url: proxy.url }));
    const channelId = await makeChannel(env, agentDir(env, "handshake"));
    setRules(env, [
      { match: (r) => isMainTurn(r) && !hasToolResult(r), reply: { toolUses: [{ name: "mcp__loop__list_tasks", input: {} }] } },
      { match: isMainTurn, reply: { text: "No tasks yet." } },
    ]);

    const run = await waitForRun(env, await createRun(env, channelId, "What is scheduled here?"));
    expect(run.status, JSON.stringify(run)).toBe("succeeded");
    const use = run.events.find((e: any) => e.type === "tool_use" && e.payload.name === "mcp__loop__list_tasks");
    const result = run.events.find((e: any) => e.type === "tool_result" && e.payload.tool_use_id === use?.payload.id);
    expect(result?.payload, JSON.stringify(run.events)).toMatchObject({ is_error: false });
    expect(result.payload.output).toContain('"tasks":[]');

    const firstCall = proxy.seen.findIndex((s) => s.method === "tools/call");
    expect(firstCall, JSON.stringify(proxy.seen)).toBeGreaterThan(0);
    expect(proxy.seen.slice(0, firstCall).map((s) => `${s.verb} ${s.method}`)).toEqual(["POST server/discover", "POST tools/list"]);
    expect(proxy.seen.map((s) => s.method)).not.toContain("initialize");
    expect(proxy.seen.filter((s) => s.verb !== "POST")).toEqual([]);
    expect(new Set(proxy.seen.map((s) => s.version))).toEqual(new Set(["2026-07-28"]));
  });
});
