// How a job reports: the event uploader (batching, seq numbering, retry without loss,
// bounded buffer, cancel and lease-lost answers) against a scripted client, and the
// outcome → Completion rules. The real Worker is exercised in runner-*.test.ts.
import { describe, expect, it } from "vitest";
import { Completion, type EventBatchResponse, type WireEvent } from "../../protocol/runner.ts";
import type { AgentOutcome } from "../../runner/agent.ts";
import { Backoff } from "../../runner/backoff.ts";
import { EventUploader, MAX_BATCH, MAX_BUFFERED } from "../../runner/event-uploader.ts";
import { startHeartbeats } from "../../runner/heartbeat.ts";
import { LeaseContact } from "../../runner/lease-contact.ts";
import { memoryLogger } from "../../runner/log.ts";
import { decide } from "../../runner/outcome.ts";
import { WorkerError } from "../../runner/worker-client.ts";

const job = { run_id: 1, lease_id: "lease_1", first_seq: 1_000_001 };
const fastBackoff = () => new Backoff({ initialMs: 5, maxMs: 20 });

function scriptedClient(answer: (events: WireEvent[], call: number) => EventBatchResponse | Error) {
  const stored = new Map<number, WireEvent>();
  const calls: number[][] = [];
  return {
    stored,
    calls,
    async events(_runId: number, _lease: string, events: WireEvent[]) {
      calls.push(events.map((e) => e.seq));
      await new Promise((r) => setTimeout(r, 1));
      const a = answer(events, calls.length);
      if (a instanceof Error) throw a;
      for (const e of events) if (!stored.has(e.seq)) stored.set(e.seq, e); // the Worker ignores seen seqs
      return a;
    },
  };
}

describe("event uploader", () => {
  it("numbers events from first_seq, batches them, and loses none across failed requests", async () => {
    // Every third request fails after the Worker stored it (a lost answer), every fifth never arrives.
    const client = scriptedClient((_, n) => (n % 5 === 0 ? new WorkerError("unreachable", "reset") : { accepted: 1, cancel: false }));
    const flaky = {
      stored: client.stored,
      calls: client.calls,
      async events(runId: number, lease: string, events: WireEvent[]) {
        const res = await client.events(runId, lease, events);
        if (client.calls.length % 3 === 0) throw new WorkerError("unreachable", "answer lost");
        return res;
      },
    };
    const up = new EventUploader({ client: flaky, job, log: memoryLogger(), onCancel: () => {}, onLeaseLost: () => {}, flushMs: 5, backoff: fastBackoff() });
    for (let i = 0; i < 260; i++) {
      up.push({ type: "text", text: `event ${i}` });
      if (i % 40 === 0) await new Promise((r) => setTimeout(r, 3));
    }
    expect(await up.drain()).toBe(true);
    const seqs = [...flaky.stored.keys()].sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 260 }, (_, i) => 1_000_001 + i));
    expect(flaky.stored.get(1_000_001 + 259)?.data).toEqual({ type: "text", text: "event 259" });
    expect(Math.max(...flaky.calls.map((c) => c.length))).toBeLessThanOrEqual(MAX_BATCH);
    // Fewer requests than events: they were batched.
    expect(flaky.calls.length).toBeLessThan(60);
  });

  it("holds the producer back when the buffer is full, and lets it go when the Worker is back", async () => {
    let down = true;
    const client = scriptedClient(() => (down ? new WorkerError("unreachable", "refused") : { accepted: 1, cancel: false }));
    const up = new EventUploader({ client, job, log: memoryLogger(), onCancel: () => {}, onLeaseLost: () => {}, flushMs: 1, backoff: fastBackoff() });
    for (let i = 0; i < MAX_BUFFERED; i++) up.push({ type: "text", text: "x" });
    let room = false;
    const waiting = up.waitForRoom().then(() => (room = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(room).toBe(false);
    down = false;
    await waiting;
    expect(await up.drain()).toBe(true);
    expect(client.stored.size).toBe(MAX_BUFFERED);
  });

  it("tells the job about cancel: true and about a lost lease (and stops sending)", async () => {
    let cancels = 0;
    let lost: WorkerError | null = null;
    const client = scriptedClient((_, n) => (n === 1 ? { accepted: 1, cancel: true } : new WorkerError("lease_lost", "409", 409)));
    const up = new EventUploader({ client, job, log: memoryLogger(), onCancel: () => cancels++, onLeaseLost: (e) => (lost = e), flushMs: 1, backoff: fastBackoff() });
    up.push({ type: "text", text: "a" });
    await up.drain();
    expect(cancels).toBe(1);
    up.push({ type: "text", text: "b" });
    expect(await up.drain()).toBe(false);
    expect(lost).toBeInstanceOf(WorkerError);
    expect(client.calls).toHaveLength(2);
  });
});

describe("requests per run (issue 15)", () => {
  const slow = 60_000; // longer than any test: a batch that waits for the pace never goes out

  it("the first batch goes when the first contact is due (here at once); later events wait for the pace; what is left rides on the completion", async () => {
    const client = scriptedClient(() => ({ accepted: 1, cancel: false }));
    const contact = new LeaseContact();
    const up = new EventUploader({ client, job, log: memoryLogger(), onCancel: () => {}, onLeaseLost: () => {}, flushMs: slow, backoff: fastBackoff(), contact });
    up.push({ type: "init", session_id: "s", model: "m", tools: [] });
    await waitUntil(() => up.delivered === 1);
    expect(contact.at).toBeGreaterThan(0);
    for (let i = 0; i < 5; i++) up.push({ type: "text", text: `e${i}` });
    await new Promise((r) => setTimeout(r, 50));
    expect(client.calls).toHaveLength(1);

    const rest = await up.takeRest();
    expect(rest?.map((e) => e.seq)).toEqual([1_000_002, 1_000_003, 1_000_004, 1_000_005, 1_000_006]);
    expect(client.calls).toHaveLength(1); // no batch of its own: the completion carries them
    expect(up.pending).toBe(5); // kept until the completion is accepted
    up.markDelivered(rest!);
    expect(up.pending).toBe(0);
    expect(up.delivered).toBe(6);
  });

  it("a burst of MAX_BATCH events does not wait for the pace", async () => {
    const client = scriptedClient(() => ({ accepted: 1, cancel: false }));
    const contact = new LeaseContact();
    contact.touch(); // a heartbeat just went out
    const up = new EventUploader({ client, job, log: memoryLogger(), onCancel: () => {}, onLeaseLost: () => {}, flushMs: slow, backoff: fastBackoff(), contact });
    for (let i = 0; i < MAX_BATCH; i++) up.push({ type: "text", text: `e${i}` });
    await waitUntil(() => client.calls.length === 1);
    expect(client.calls[0]).toHaveLength(MAX_BATCH);
    up.close();
  });

  it("heartbeats: the first when the first contact is due (here at once), then none while batches keep reaching the Worker", async () => {
    const beats: number[] = [];
    const contact = new LeaseContact();
    const client = { heartbeat: async () => (beats.push(Date.now()), { cancel: false, lease_expires_at: 0 }) };
    // A 1.5 s lease: a heartbeat every 500 ms of silence.
    const hb = startHeartbeats({ client, job: { run_id: 1, lease_id: "l", lease_ttl_ms: 1_500 }, log: memoryLogger(), contact, onCancel: () => {}, onLeaseLost: () => {} });
    try {
      await waitUntil(() => beats.length === 1);
      // Event batches every 100 ms for a second: the lease is kept by them alone.
      for (let i = 0; i < 10; i++) {
        contact.touch();
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(beats).toHaveLength(1);
      // Silence: the heartbeat resumes.
      await waitUntil(() => beats.length === 2);
    } finally {
      hb.stop();
    }
  });
});

/**
 * One lease as runJob wires it: the uploader and the heartbeats share a LeaseContact whose
 * first contact is due `deferMs` after the claim, and the completion goes through it too.
 * `requests` lists every request in the order the scripted Worker received them.
 */
function lease(o: { deferMs: number; events?: (call: number) => Promise<EventBatchResponse>; heartbeat?: (call: number) => Promise<{ cancel: boolean; lease_expires_at: number }> }) {
  const requests: string[] = [];
  let batches = 0;
  let beats = 0;
  let cancels = 0;
  const client = {
    async events(_run: number, _lease: string, events: WireEvent[]) {
      requests.push(`events ×${events.length}`);
      return o.events ? o.events(++batches) : { accepted: events.length, cancel: false };
    },
    async heartbeat() {
      requests.push("heartbeat");
      return o.heartbeat ? o.heartbeat(++beats) : { cancel: false, lease_expires_at: 0 };
    },
  };
  const contact = new LeaseContact(Date.now() + o.deferMs);
  const log = memoryLogger();
  // Slow retries of its own: a failed batch is left to the heartbeat's one-second retry.
  const up = new EventUploader({ client, job, log, contact, onCancel: () => cancels++, onLeaseLost: () => {}, flushMs: 60_000, backoff: new Backoff({ initialMs: 60_000, maxMs: 60_000 }) });
  // A 60 s lease: after the first contact, a heartbeat only after 5 s of silence.
  const hb = startHeartbeats({ client, job: { run_id: 1, lease_id: "l", lease_ttl_ms: 60_000 }, log, contact, eventsWaiting: () => up.pending > 0, onCancel: () => cancels++, onLeaseLost: () => {} });
  return {
    requests,
    contact,
    up,
    log,
    cancels: () => cancels,
    complete: (events: WireEvent[]) => contact.send(async () => void requests.push(`complete +${events.length}`)),
    stop() {
      hb.stop();
      up.close();
    },
  };
}

describe("the first contact under a lease (issue 15)", () => {
  it("is deferred: a run that ends before it is due sends its completion and nothing else", async () => {
    const l = lease({ deferMs: 60_000 }); // longer than any test
    try {
      for (let i = 0; i < 20; i++) l.up.push({ type: "text", text: `e${i}` });
      await new Promise((r) => setTimeout(r, 50));
      expect(l.requests).toEqual([]);
      const rest = (await l.up.takeRest())!;
      await l.complete(rest);
      l.up.markDelivered(rest);
      expect(l.requests).toEqual(["complete +20"]);
      expect(l.contact.at).toBeGreaterThan(0);
    } finally {
      l.stop();
    }
  });

  it("is one event batch when the run has events by then: it acknowledges the lease, no heartbeat goes with it, and it carries the cancel flag", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // The Worker answers the first batch only when the test says: the heartbeat's due moment passes meanwhile.
    const l = lease({ deferMs: 200, events: async () => (await held, { accepted: 3, cancel: true }) });
    try {
      for (let i = 0; i < 3; i++) l.up.push({ type: "text", text: `e${i}` });
      await waitUntil(() => l.requests.length === 1);
      await new Promise((r) => setTimeout(r, Math.max(0, l.contact.firstDueAt + 100 - Date.now())));
      expect(l.requests).toEqual(["events ×3"]);
      release();
      await waitUntil(() => l.up.delivered === 3);
      expect(l.contact.at).toBeGreaterThanOrEqual(l.contact.firstDueAt);
      expect(l.cancels()).toBe(1);
      await new Promise((r) => setTimeout(r, 100));
      expect(l.requests).toEqual(["events ×3"]);
    } finally {
      l.stop();
    }
  });

  it("is exactly one heartbeat when the run has no events by then; the next waits a whole interval", async () => {
    const l = lease({ deferMs: 100 });
    try {
      await new Promise((r) => setTimeout(r, 50));
      expect(l.requests).toEqual([]);
      await waitUntil(() => l.contact.at > 0);
      await new Promise((r) => setTimeout(r, 300));
      expect(l.requests).toEqual(["heartbeat"]);
    } finally {
      l.stop();
    }
  });

  it("that fails is taken over by the heartbeat, tried again every second until one gets through", async () => {
    const l = lease({
      deferMs: 100,
      events: async () => {
        throw new WorkerError("unreachable", "refused");
      },
      heartbeat: async (n) => {
        if (n === 1) throw new WorkerError("unreachable", "refused");
        return { cancel: false, lease_expires_at: 0 };
      },
    });
    try {
      l.up.push({ type: "text", text: "e0" });
      await waitUntil(() => l.contact.at > 0);
      expect(l.requests).toEqual(["events ×1", "heartbeat", "heartbeat"]);
      expect(l.log.lines.map((x) => x.msg)).toEqual(expect.arrayContaining(["events: worker unreachable, buffering", "heartbeat failed", "heartbeat delivered again"]));
    } finally {
      l.stop();
    }
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("outcome → completion", () => {
  const outcome = (o: Partial<AgentOutcome>): AgentOutcome => ({ exitCode: 0, oomKilled: false, timedOut: false, stalled: false, result: null, sessionId: "s1", model: "m", stderrTail: "", startError: null, ...o });
  const result = (isError: boolean, extra: object = {}) => ({ isError, subtype: "success", text: "answer", sessionId: "s1", costUsd: 0.01, usage: { input_tokens: 1, output_tokens: 2 }, modelUsage: {}, durationMs: 5, errors: [], terminalReason: null, numTurns: 1, toolUses: 0, deferredToolUse: null, ...extra });
  const usage = { costUsd: 0.01, usage: { input_tokens: 1, output_tokens: 2 } };
  const base = { cancelled: false, timeoutSec: 60, memoryMb: 512, usage, durationMs: 1234 };
  const check = (d: ReturnType<typeof decide>) => Completion.parse({ lease_id: "l", ...d });

  it("a call the hook deferred parks the run with the call", () => {
    const call = { id: "toolu_1", name: "Bash", input: { command: "rm -rf build" } };
    expect(check(decide({ ...base, outcome: outcome({ result: result(false, { terminalReason: "tool_deferred", deferredToolUse: call }) }) }))).toMatchObject({ status: "deferred", deferred_tool_use: call, session_id: "s1", error: null });
  });

  it("the result decides, by is_error", () => {
    expect(check(decide({ ...base, outcome: outcome({ result: result(false) }) }))).toMatchObject({ status: "succeeded", result_text: "answer", session_id: "s1", cost_usd: 0.01, usage: { input_tokens: 1, output_tokens: 2 }, exit_code: 0, model: "m", duration_ms: 1234, error: null });
    expect(check(decide({ ...base, outcome: outcome({ exitCode: 1, result: result(true, { text: "Invalid API key" }) }) }))).toMatchObject({ status: "failed", error: "Invalid API key" });
  });

  it("no result: the exit code and the tail of stderr", () => {
    expect(check(decide({ ...base, outcome: outcome({ exitCode: 3, stderrTail: "boom" }) }))).toMatchObject({ status: "failed", exit_code: 3, error: "claude exited with code 3 without a result: boom" });
  });

  it("the watchdog: a silent run fails with how long it was silent; an exit 0 that did nothing fails", () => {
    expect(decide({ ...base, stallTimeoutSec: 7, outcome: outcome({ stalled: true, exitCode: 130 }) })).toMatchObject({ status: "failed", error: "no output for 7 s: the watchdog stopped the agent (stall_timeout_sec)" });
    expect(decide({ ...base, outcome: outcome({ result: result(false, { numTurns: 0 }) }) })).toMatchObject({ status: "failed", error: "the agent did nothing: it ended after zero turns" });
    expect(decide({ ...base, outcome: outcome({ result: result(false, { text: "  " }) }) })).toMatchObject({ status: "failed", error: "the agent did nothing: it gave an empty answer and used no tools" });
    // Work done through tools with no closing words is still work.
    expect(decide({ ...base, outcome: outcome({ result: result(false, { text: "", toolUses: 2 }) }) })).toMatchObject({ status: "succeeded" });
  });

  it("a cancel wins over what the CLI said; then the deadline, then the memory limit", () => {
    expect(decide({ ...base, cancelled: true, outcome: outcome({ result: result(true) }) })).toMatchObject({ status: "cancelled" });
    expect(decide({ ...base, outcome: outcome({ timedOut: true, exitCode: 137 }) })).toMatchObject({ status: "failed", error: "timed out after 60 s" });
    expect(decide({ ...base, outcome: outcome({ oomKilled: true, exitCode: 137 }) })).toMatchObject({ status: "failed", error: expect.stringContaining("512 MB") });
    expect(decide({ ...base, outcome: outcome({ startError: "no such image", exitCode: null }) })).toMatchObject({ status: "failed", error: "could not start the agent container: no such image" });
  });
});
