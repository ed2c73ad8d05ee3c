/**
 * A run's live Discord message, end to end: /loop ask (signed), a runner claiming the job
 * and streaming events through /runner/v1, the ChannelSession editing one message in the
 * fake Discord API as they arrive, then the final answer. Waits are real (the object's
 * alarm drives the edits), so each test polls the fake until the message is final.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { RecordedCall } from "../fakes/discord.ts";
import { admin, askAndWait, button, command, discordCalls, fakeRule, newPlace, run, runnerFor, send, snowflake, waitForCalls, webhookPath, type Place } from "./discord-helpers.ts";

const FOOTER = /-# ✅ run #\d+ · \d+(ms|s) · (\d+ tool calls? · )?1,200 in \/ 345 out tokens · \$0\.0123 · claude-test-1$/;
/** The final message carries the footer: "-# ✅ run #12 · …". */
const isFinal = (c: RecordedCall) => /(^|\n)-# (✅|❌|⚠️|⏹️) run #\d+/.test(c.body?.content ?? "");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** /loop ask in a fresh channel, with a runner of its own; returns the interaction and the claimed job. */
async function asked(prompt = "what changed?", place: Place = newPlace()) {
  await run("status", {}, place); // creates the channel, so its runner can be set up first
  const runner = await runnerFor(place.channelId);
  const interaction = command("ask", { prompt }, place);
  expect((await send(interaction)).body).toEqual({ type: 5 });
  const job = await runner.claim();
  return { place, interaction, token: interaction.token, runner, job };
}

const toolUse = (i: number) => [
  { type: "tool_use", id: `tu${i}`, name: i % 2 ? "Read" : "Bash", input: JSON.stringify(i % 2 ? { file_path: `/src/file${i}.ts` } : { command: `npm test -- ${i}` }) },
  { type: "tool_result", tool_use_id: `tu${i}`, is_error: i === 3, output: "ok" },
];

describe("live message", { timeout: 30_000 }, () => {
  it("coalesces a stream of events into a few edits of one message, then shows the answer with a footer", async () => {
    const { token, runner, job } = await asked();
    await runner.events(job, [{ type: "init", session_id: "s", model: "claude-test-1", tools: [] }]);
    for (let i = 0; i < 30; i++) {
      await runner.events(job, toolUse(i));
      await sleep(100);
    }
    await runner.events(job, [{ type: "text", text: "Tests pass now." }]);
    await runner.complete(job, { result_text: "All 30 checks passed." });

    const calls = await waitForCalls(webhookPath(token), (c) => c.some(isFinal));
    expect(calls.every((c) => c.method === "PATCH" && c.path.endsWith("/messages/@original") && c.status === 200)).toBe(true);
    const live = calls.filter((c) => !isFinal(c));
    // ~3.5 s of events at one edit per 1.5 s: a handful of edits, not one per event (61 events).
    expect(live.length).toBeGreaterThanOrEqual(1);
    expect(live.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < live.length; i++) expect(live[i]!.at - live[i - 1]!.at).toBeGreaterThanOrEqual(1_400);
    const last = live[live.length - 1]!.body;
    expect(last.content).toMatch(/^\*\*Run #\d+\*\* · ⏳ Working… /);
    expect(last.content).toMatch(/-# … \d+ earlier tool calls/);
    expect(last.content).toMatch(/🔧 \*\*(Bash|Read)\*\* `(npm test -- \d+|\/src\/file\d+\.ts)` ✓/);
    expect(last.components).toEqual([{ type: 1, components: [expect.objectContaining({ type: 2, style: 4, label: "Stop", custom_id: `loop:stop:${job.run_id}` })] }]);
    expect(last.allowed_mentions).toEqual({ parse: [] });

    const final = calls[calls.length - 1]!.body;
    expect(final.content.split("\n")[0]).toBe("All 30 checks passed.");
    expect(final.content).toMatch(FOOTER);
    expect(final.content).toContain("31 tool calls".replace("31", "30"));
    expect(final.components).toEqual([]);
    expect(calls.filter(isFinal)).toHaveLength(1);
  });

  it("splits a long answer into messages of at most 2,000 characters, code blocks intact, footer last", async () => {
    const { token, runner, job } = await asked();
    const code = Array.from({ length: 80 }, (_, i) => `    result_${i} = transform(records[${i}], options)  # keep order`).join("\n");
    const prose = Array.from({ length: 40 }, (_, i) => `Paragraph ${i} explains the change in plain words so the reader can follow it.`).join("\n\n");
    const answer = `${prose}\n\n\`\`\`python\n${code}\n\`\`\`\n\nDone.`;
    await runner.complete(job, { result_text: answer });

    const calls = await waitForCalls(webhookPath(token), (c) => c.some((x) => FOOTER.test(x.body?.content ?? "")));
    const first = calls.findIndex((c) => c.method === "PATCH" && c.body.content.startsWith("Paragraph 0"));
    const messages = calls.slice(first).map((c) => c.body.content as string);
    expect(calls[first]!.body.components).toEqual([]);
    expect(calls.slice(first + 1).every((c) => c.method === "POST" && c.path === webhookPath(token))).toBe(true);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    for (const m of messages) {
      expect(m.length).toBeLessThanOrEqual(2000);
      expect(m.split("\n").filter((l) => l.startsWith("```")).length % 2).toBe(0);
    }
    const reopened = messages.findIndex((m) => m.startsWith("```python\n"));
    expect(reopened).toBeGreaterThan(0);
    expect(messages[reopened - 1]!.endsWith("\n```")).toBe(true);
    expect(messages[messages.length - 1]).toMatch(FOOTER);
    const text = messages.join("\n").replace(/^```(python)?$/gm, "").replace(/\s+/g, " ");
    for (const piece of ["Paragraph 39 explains", "result_79 = transform(records[79], options)", "Done."]) expect(text).toContain(piece);
  });

  it("waits out a 429's retry_after and still delivers the last update", async () => {
    const { token, runner, job } = await asked();
    await runner.events(job, toolUse(0));
    await waitForCalls(webhookPath(token), (c) => c.length >= 1);
    await fakeRule("ratelimit", { match: token, count: 2, retry_after: 0.6 });
    await runner.events(job, toolUse(1));
    await runner.complete(job, { result_text: "Finished despite the rate limit." });

    const calls = await waitForCalls(webhookPath(token), (c) => c.some((x) => x.status === 200 && isFinal(x)));
    const limited = calls.filter((c) => c.status === 429);
    expect(limited).toHaveLength(2);
    const after = (c: RecordedCall) => calls[calls.indexOf(c) + 1]!;
    for (const c of limited) expect(after(c).at - c.at).toBeGreaterThanOrEqual(590);
    const last = calls[calls.length - 1]!;
    expect(last.status).toBe(200);
    expect(last.body.content).toMatch(/^Finished despite the rate limit\.\n/);
  });

  it("waits for the bucket to refill when Discord says none are left", async () => {
    const { token, runner, job } = await asked();
    await fakeRule("exhaust", { match: token, count: 1, reset_after: 2.5 });
    await runner.events(job, toolUse(0));
    const [first] = await waitForCalls(webhookPath(token), (c) => c.length >= 1);
    await runner.complete(job, { result_text: "ok" });
    const calls = await waitForCalls(webhookPath(token), (c) => c.some(isFinal));
    expect(calls[1]!.at - first!.at).toBeGreaterThanOrEqual(2_450);
    expect(calls.every((c) => c.status === 200)).toBe(true);
  });

  it("moves to a channel message before the 15-minute interaction token expires", async () => {
    // The interaction id dates it: this one was created 14½ minutes ago.
    const place = newPlace({ interactionId: snowflake(Date.now() - 14.5 * 60_000) });
    const { token, runner, job } = await asked("long job", place);
    await runner.events(job, toolUse(0));
    const channelPath = `/channels/${place.channelId}/messages`;
    const posted = await waitForCalls(channelPath, (c) => c.some((x) => x.method === "POST"));
    const handoff = (await discordCalls(webhookPath(token))).find((c) => c.body?.content?.includes("continued in a new message below"));
    expect(handoff?.body.components).toEqual([]);
    const post = posted.find((c) => c.method === "POST")!;
    expect(post.auth).toBe("bot");
    expect(post.body.content).toMatch(/^\*\*Run #\d+\*\* · /);
    expect(post.body.components[0].components[0].custom_id).toBe(`loop:stop:${job.run_id}`);

    await runner.events(job, toolUse(1));
    await runner.complete(job, { result_text: "Finished after a long while." });
    const calls = await waitForCalls(channelPath, (c) => c.some(isFinal));
    const messageId = (await discordCalls(channelPath)).find((c) => c.method === "POST")!;
    const final = calls.filter(isFinal);
    expect(final).toHaveLength(1);
    expect(final[0]!.method).toBe("PATCH");
    expect(final[0]!.path).toMatch(new RegExp(`^${channelPath}/\\d+$`));
    expect(final[0]!.body.content).toMatch(/^Finished after a long while\.\n/);
    expect(messageId.status).toBe(200);
    // Nothing went to the expired token after the hand-off.
    const webhook = await discordCalls(webhookPath(token));
    expect(webhook[webhook.length - 1]).toBe(webhook.find((c) => c === handoff) ?? webhook[webhook.length - 1]);
    expect(webhook.filter((c) => c.at > handoff!.at)).toEqual([]);
  });

  it("continues in the channel when Discord says the token is no longer valid", async () => {
    const { place, token, runner, job } = await asked();
    await fakeRule("expire", { match: token });
    await runner.events(job, toolUse(0));
    await runner.complete(job, { result_text: "Made it." });
    const calls = await waitForCalls(`/channels/${place.channelId}/messages`, (c) => c.some(isFinal));
    expect(calls.filter(isFinal)[0]!.body.content).toMatch(/^Made it\.\n/);
    expect((await discordCalls(webhookPath(token))).every((c) => c.status === 401)).toBe(true);
  });

  it("keeps its state in the ChannelSession's storage", async () => {
    const { place, job, runner, token } = await asked();
    await runner.events(job, toolUse(0));
    const stored = await runInDurableObject(env.CHANNEL_SESSION.getByName(place.channelId), (_o, state) => state.storage.get<any>(`discord:live:${job.run_id}`));
    expect(stored).toMatchObject({ runId: job.run_id, target: { kind: "interaction", token }, toolCount: 1, onOriginal: true });
    await runner.complete(job);
    await waitForCalls(webhookPath(token), (c) => c.some(isFinal));
    const gone = await runInDurableObject(env.CHANNEL_SESSION.getByName(place.channelId), (_o, state) => state.storage.get(`discord:live:${job.run_id}`));
    expect(gone).toBeUndefined();
  });
});

describe("runs started outside Discord", { timeout: 30_000 }, () => {
  it("a REST run in a Discord-bound channel is posted there and ends with its answer", async () => {
    const place = newPlace();
    await run("status", {}, place); // creates the Loop channel for this Discord channel
    const runner = await runnerFor(place.channelId);
    const channel = (await admin("GET", `/api/channels/${place.channelId}`)).body;
    const created = await admin("POST", "/api/runs", { channel_id: channel.id, prompt: "nightly report" });
    expect(created.status).toBe(201);
    const job = await runner.claim();
    expect(job.run_id).toBe(created.body.id);
    await runner.complete(job, { result_text: "Report: all green." });

    const path = `/channels/${place.channelId}/messages`;
    const calls = await waitForCalls(path, (c) => c.some((x) => /Report: all green\./.test(x.body?.content ?? "")));
    expect(calls[0]).toMatchObject({ method: "POST", auth: "bot" });
    const final = calls.find((x) => /Report: all green\./.test(x.body?.content ?? ""))!;
    expect(final.body.content).toMatch(FOOTER);
  });
});

describe("endings", { timeout: 30_000 }, () => {
  it("a failed run says why", async () => {
    const { token, runner, job } = await asked();
    await runner.complete(job, { status: "failed", result_text: null, error: "timed out after 300 s", exit_code: 124 });
    const [final] = (await waitForCalls(webhookPath(token), (c) => c.some(isFinal))).filter(isFinal);
    expect(final!.body.content).toMatch(/^❌ \*\*Run failed\*\*: timed out after 300 s\n-# ❌ run #\d+/);
  });

  it("a run whose runner vanished says the runner was lost", async () => {
    const { token, runner, job } = await asked();
    await runner.heartbeat(job);
    const dispatcher = env.DISPATCHER.getByName("default");
    const expire = async () => {
      await runInDurableObject(dispatcher, (_o, state) => {
        state.storage.sql.exec("UPDATE jobs SET lease_expires_at = ? WHERE run_id = ?", Date.now() - 1, job.run_id);
      });
      await runDurableObjectAlarm(dispatcher);
    };
    await expire();
    const again = await runner.claim();
    await runner.heartbeat(again);
    await expire();
    const [final] = (await waitForCalls(webhookPath(token), (c) => c.some(isFinal))).filter(isFinal);
    expect(final!.body.content).toMatch(/^⚠️ \*\*Runner lost\*\*: runner lost: no heartbeat/);
  });

  it("the Stop button stops the asker's run", async () => {
    const owner = newPlace();
    await run("owner add", { user: owner.userId }, owner);
    const { place, token, runner, job } = await asked("stop me", { ...owner, userId: snowflake() });
    await runner.events(job, toolUse(0));
    const stranger = await send(button(`loop:stop:${job.run_id}`, { ...place, userId: snowflake() }));
    expect(stranger.body.data.content).toMatch(/^🔒/);
    expect((await runner.heartbeat(job)).cancel).toBe(false);

    const res = await send(button(`loop:stop:${job.run_id}`, place));
    expect(res.body).toMatchObject({ type: 4, data: { flags: 64, content: `⏹️ Stopping run #${job.run_id}: the runner stops it at its next heartbeat.` } });
    expect((await runner.heartbeat(job)).cancel).toBe(true);
    await runner.complete(job, { status: "cancelled", result_text: "Partial notes.", error: "cancelled by user" });
    const [final] = (await waitForCalls(webhookPath(token), (c) => c.some(isFinal))).filter(isFinal);
    expect(final!.body.content).toMatch(/^⏹️ \*\*Stopped\*\*: cancelled by user\n\nPartial notes\.\n-# ⏹️ run #/);
    expect(final!.body.components).toEqual([]);
  });

  it("a run stopped before it started ends its message too", async () => {
    const place = newPlace();
    await run("status", {}, place);
    await runnerFor(place.channelId); // pins the channel's runs away from other tests' runners
    await askAndWait("first", place);
    const { interaction: second, runId } = await askAndWait("second", place);
    expect((await send(button(`loop:stop:${runId}`, place))).body.data.content).toBe(`⏹️ Run #${runId} was cancelled before it started.`);
    const [final] = (await waitForCalls(webhookPath(second.token), (c) => c.some(isFinal))).filter(isFinal);
    expect(final!.body.content).toMatch(/^⏹️ \*\*Stopped\*\*: cancelled before it started/);
  });
});

describe("scheduled runs", { timeout: 30_000 }, () => {
  it("post into a new thread named after the task, then edit that message", async () => {
    const place = newPlace();
    const res = await run("schedule", { schedule: "30m", type: "interval", prompt: "Check the nightly build" }, place);
    const taskId = Number(/task `#(\d+)`/.exec(res.content)![1]);
    const runner = await runnerFor(place.channelId);
    await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(Date.now() - 1_000, taskId).run();
    await runDurableObjectAlarm(env.CHANNEL_SESSION.getByName(place.channelId));

    const [thread] = await waitForCalls(`/channels/${place.channelId}/threads`, (c) => c.length > 0);
    expect(thread).toMatchObject({ method: "POST", auth: "bot", status: 201, body: { name: `⏰ Task #${taskId}: Check the nightly build`, type: 11 } });

    const threadId = thread!.response.id as string;

    const job = await runner.claim();
    await runner.events(job, toolUse(0));
    await runner.complete(job, { result_text: "Build is green." });
    const calls = await waitForCalls(`/channels/${threadId}/messages`, (c) => c.some(isFinal));
    const [post] = calls;
    expect(post).toMatchObject({ method: "POST", auth: "bot", status: 200 });
    expect(post!.body.content).toMatch(new RegExp(`^\\*\\*Run #${job.run_id}\\*\\* · .*\\n> Check the nightly build`));
    const final = calls.filter(isFinal);
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({ method: "PATCH", path: `/channels/${threadId}/messages/${post!.response.id}` });
    expect(final[0]!.body.content).toMatch(/^Build is green\.\n-# ✅ run #/);
    // Nothing of the run went to the parent channel itself.
    expect(await discordCalls(`/channels/${place.channelId}/messages`)).toEqual([]);
  });

  it("a task of a thread posts in the thread itself", async () => {
    const parent = newPlace();
    await run("status", {}, parent);
    const place = newPlace({ thread: { parentId: parent.channelId } });
    const res = await run("schedule", { schedule: "30m", type: "interval", prompt: "Thread task" }, place);
    const taskId = Number(/task `#(\d+)`/.exec(res.content)![1]);
    const runner = await runnerFor(place.channelId);
    await env.DB.prepare("UPDATE tasks SET next_run_at = ? WHERE id = ?").bind(Date.now() - 1_000, taskId).run();
    await runDurableObjectAlarm(env.CHANNEL_SESSION.getByName(place.channelId));
    const job = await runner.claim();
    await runner.complete(job, { result_text: "Thread result." });
    const calls = await waitForCalls(`/channels/${place.channelId}/messages`, (c) => c.some(isFinal));
    expect(calls[0]!.method).toBe("POST");
    expect(calls.filter(isFinal)[0]!.body.content).toMatch(/^Thread result\./);
    expect(await discordCalls(`/channels/${place.channelId}/threads`)).toEqual([]);
  });
});
