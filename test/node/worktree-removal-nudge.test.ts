// An idle claim's answer that says worktree removals wait wakes the runner's removal loop at
// once; without it the loop only asks at start and at its slow fallback poll (issue 15: every
// ask is a Worker request against the free tier's daily budget).
import { describe, expect, it } from "vitest";
import { WORKTREE_REMOVALS_HEADER } from "../../protocol/runner.ts";
import type { PostJson } from "../../runner/http-post.ts";
import { memoryLogger } from "../../runner/log.ts";
import { WorkerClient } from "../../runner/worker-client.ts";
import { Nudge, worktreeRemovalLoop } from "../../runner/worktree-removals.ts";

async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("worktree removals ride on claims", () => {
  it("asks at start, then only when a claim's answer says so", async () => {
    let say = false;
    const post: PostJson = async () => ({ status: 204, body: "", headers: say ? { [WORKTREE_REMOVALS_HEADER]: "1" } : {} });
    const nudge = new Nudge();
    const client = new WorkerClient({ url: "http://loop.test", token: "t", runnerVersion: "test", post, onWorktreeRemovals: () => nudge.poke() });
    let asks = 0;
    const stop = new AbortController();
    const loop = worktreeRemovalLoop({
      client: { worktreeRemovals: async () => (asks++, { removals: [] }), worktreesRemoved: async () => ({ forgotten: 0 }) },
      git: async () => ({ ok: true, stdout: "", stderr: "" }),
      log: memoryLogger(),
      signal: stop.signal,
      nudge,
    });
    await until(() => asks === 1);
    expect(await client.claim(0)).toBeNull();
    expect(await client.claim(0)).toBeNull();
    await new Promise((r) => setTimeout(r, 50));
    expect(asks).toBe(1);
    say = true;
    expect(await client.claim(0)).toBeNull();
    await until(() => asks === 2);
    stop.abort();
    await loop;
  });
});
