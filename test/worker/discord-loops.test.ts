/**
 * Loops from Discord (docs/loops.md): /loop loop (signed), the loop's one live message in
 * the fake Discord API with its counter, last answer and Stop button, /loop stop, and
 * /loop memory show|set|clear. A runner of the test's own speaks /runner/v1.
 */
import { describe, expect, it } from "vitest";
import { admin, button, discordCalls, newPlace, run, runnerFor, send, waitForCalls } from "./discord-helpers.ts";

/** A fresh Discord channel with its Loop channel and a runner serving only it. */
async function place() {
  const p = newPlace();
  await run("status", {}, p);
  return { place: p, runner: await runnerFor(p.channelId) };
}

const loopIdOf = (content: string) => Number(/Loop #(\d+) started/.exec(content)?.[1]);

describe("/loop loop", { timeout: 30_000 }, () => {
  it("starts a loop whose one live message shows the counter and the last answer; its Stop button ends the loop", async () => {
    const { place: p, runner } = await place();
    const started = await run("loop", { prompt: "Keep the build green.", max_iterations: 5, until: "ALL GREEN", monitor: "npm test" }, p);
    expect(started).toMatchObject({ type: 4, ephemeral: false });
    expect(started.content).toMatch(/^🔁 Loop #\d+ started: up to 5 iterations, back to back, until an answer says `ALL GREEN`, watching `npm test`\./);
    const loopId = loopIdOf(started.content);

    const job1 = await runner.claim();
    expect(job1.monitor?.command).toBe("npm test");
    const messages = `/channels/${p.channelId}/messages`;
    // The iteration's first events show it working.
    await runner.events(job1, [{ type: "text", text: "Looking at the lint step." }]);
    await waitForCalls(messages, (calls) => calls.some((c) => c.body?.content?.includes("iteration 1/5 · ⏳ working")));
    await runner.complete(job1, { result_text: "Fixed the lint step; two tests still fail." });
    const shown = await waitForCalls(messages, (calls) => calls.some((c) => c.body?.content?.includes("iteration 2/5") && c.body.content.includes("two tests still fail")));
    // One message: posted once, edited after.
    expect(shown.filter((c) => c.method === "POST")).toHaveLength(1);
    const live = shown.find((c) => c.body?.content?.includes("iteration 2/5"))!.body;
    expect(live.content).toMatch(new RegExp(`^🔁 \\*\\*Loop #${loopId}\\*\\* · iteration 2/5 · `));
    expect(live.content).toContain("**Iteration 1:** Fixed the lint step; two tests still fail.");
    expect(live.components).toEqual([{ type: 1, components: [expect.objectContaining({ type: 2, style: 4, custom_id: `loop:stoploop:${loopId}` })] }]);
    expect(live.allowed_mentions).toEqual({ parse: [] });

    const stopped = await send(button(`loop:stoploop:${loopId}`, p));
    expect(stopped.body.data.content).toMatch(new RegExp(`^⏹️ Loop #${loopId} stopped after 2 iterations`));
    expect((await admin("GET", `/api/loops/${loopId}`)).body).toMatchObject({ status: "stopped", iterations: [{ status: "succeeded" }, { status: "cancelled" }] });
    const final = await waitForCalls(messages, (calls) => calls.some((c) => c.body?.content?.includes("⏹️ Stopped")));
    const last = final.filter((c) => c.body?.content?.includes("⏹️ Stopped")).at(-1)!.body;
    expect(last.content).toMatch(new RegExp(`^🔁 \\*\\*Loop #${loopId}\\*\\* · ⏹️ Stopped after 2 iterations`));
    expect(last.components).toEqual([]);
  });

  it("/loop stop ends the channel's running loop before it looks at single runs", async () => {
    const { place: p, runner } = await place();
    const loopId = loopIdOf((await run("loop", { prompt: "Poll the queue." }, p)).content);
    const job = await runner.claim();
    const res = await run("stop", {}, p);
    expect(res).toMatchObject({ ephemeral: true });
    expect(res.content).toMatch(new RegExp(`^⏹️ Loop #${loopId} stopped after 1 iteration;`));
    expect((await runner.heartbeat(job)).cancel).toBe(true);
    await runner.complete(job, { status: "cancelled", error: "cancelled" });
    expect((await admin("GET", `/api/loops/${loopId}`)).body).toMatchObject({ status: "stopped", iteration: 1 });
    expect((await run("stop", {}, p)).content).toBe("Nothing is running or waiting in this channel.");
  });

  it("refuses a bad every with the field and an example, and starts nothing", async () => {
    const { place: p } = await place();
    const res = await run("loop", { prompt: "x", every: "10ms" }, p);
    expect(res.ephemeral).toBe(true);
    expect(res.content).toMatch(/every: "10ms" is shorter than the minimum of 1s/i);
    expect(res.content).toContain("Example: `/loop loop prompt:");
    expect((await admin("GET", `/api/loops?channel_id=${p.channelId}`)).body.loops).toEqual([]);
  });
});

describe("/loop memory", () => {
  it("shows, sets and clears the channel's memories", async () => {
    const { place: p } = await place();
    expect((await run("memory set", { kind: "persistent", text: "Goal: green CI." }, p)).content).toBe("🧠 Persistent memory set (15 characters).");
    await run("memory set", { kind: "working", text: "try the cache" }, p);
    const shown = await run("memory show", {}, p);
    expect(shown.ephemeral).toBe(true);
    expect(shown.content).toBe("**Persistent memory** (15 characters)\nGoal: green CI.\n\n**Working memory** (13 characters)\ntry the cache");
    expect((await run("memory clear", { kind: "working" }, p)).content).toBe("🧠 Cleared working memory.");
    expect((await admin("GET", `/api/channels/${p.channelId}/memory`)).body).toMatchObject({ persistent: "Goal: green CI.", working: "" });
    expect((await run("memory clear", {}, p)).content).toBe("🧠 Cleared both memories.");
    expect((await admin("GET", `/api/channels/${p.channelId}/memory`)).body).toMatchObject({ persistent: "", working: "" });
    expect(await discordCalls(`/channels/${p.channelId}/messages`)).toEqual([]);
  });
});
