/**
 * ChannelSession: one per channel, named by the channel id. It owns
 *  - the task alarm: one alarm at the earliest next_run_at of the channel's enabled tasks;
 *  - the run queue: one active run at a time, strictly in order (queued runs live in D1,
 *    the active one is handed to the Dispatcher);
 *  - live watchers: SSE streams of a run's events;
 *  - runs' live Discord messages (live-messages.ts), woken by the same alarm;
 *  - loops (docs/loops.md): when an iteration ends, the next is queued now or at the loop's
 *    "loopWake" time, woken by the same alarm, and the loop's live message (loop-messages.ts).
 * The rules it runs live in core/domain; this class sequences them. Storage keys:
 * "channelId", "active", "taskAlarmAt" and "loopWake" (docs/storage.md), "discord:live:<run id>"
 * (docs/discord.md), "discord:loop:<loop id>" (docs/loops.md).
 */
import { DurableObject } from "cloudflare:workers";
import { and, eq, inArray } from "drizzle-orm";
import type { WireEvent } from "../protocol/runner.ts";
import { db, type Db } from "../core/db/client.ts";
import { nextQueuedRun } from "../core/db/run-lookups.ts";
import { channels, runs, type RunRow } from "../core/db/schema.ts";
import { footerCap, verdict, withUnfinishedCost, type SpendFigures } from "../core/domain/budget-rule.ts";
import { readStartCheck } from "../core/domain/budget-store.ts";
import { warnBudget } from "../core/domain/budget-warnings.ts";
import { endRun, isTerminal, lastEventSeq } from "../core/domain/run-state.ts";
import { earliestDue, fireDueTasks } from "../core/domain/scheduler.ts";
import { runView } from "../core/domain/views.ts";
import { channelOfPlace } from "../core/domain/discord-channels.ts";
import { insertRun, type HolderState } from "../core/domain/runs.ts";
import { discordRest } from "../core/discord/rest.ts";
import { dueIteration, iterationEnded } from "../core/loops/iterations.ts";
import { config, type Config, type Env } from "../core/env.ts";
import { log } from "../core/log.ts";
import { ASK_FAILED, dispatcherOf, sessionOf, type AskRequest, type CancelOutcome, type ChannelSessionApi, type FiredBy, type FiredRun, type QueuedRun, type RunRequest } from "./contracts.ts";
import { LiveMessages } from "./live-messages.ts";
import { LoopMessages } from "./loop-messages.ts";
import { RunWatchers } from "./run-watchers.ts";

/** When firing left something due (a task that keeps failing), try again this much later. */
const RETRY_DELAY_MS = 30_000;

/** The run holding the channel and its state as read with a queued run's insert (undefined: gone). */
interface KnownHolder {
  runId: number;
  state: HolderState | undefined;
}

/** The channel's running loop waiting out its `every` until `at`. */
interface LoopWake {
  loopId: number;
  at: number;
}

export class ChannelSession extends DurableObject<Env> implements ChannelSessionApi {
  readonly #db: Db;
  readonly #watchers: RunWatchers;
  readonly #live: LiveMessages;
  readonly #loopMessages: LoopMessages;
  readonly #cfg: Config;
  /** Serialises queue moves so two callers never hand over two runs at once. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const cfg = config(env); // validates vars and sets the log level in this isolate
    this.#cfg = cfg;
    this.#db = db(env.DB);
    this.#watchers = new RunWatchers(this.#db);
    this.#live = new LiveMessages(ctx.storage, this.#db, cfg, (at) => this.#wakeBy(at));
    this.#loopMessages = new LoopMessages(ctx.storage, this.#db, cfg, (at) => this.#wakeBy(at));
  }

  // ---- schedule ------------------------------------------------------------------------

  /** Re-reads the channel's tasks and sets (or clears) the alarm. */
  async arm(channelId: string): Promise<number | null> {
    await this.#remember(channelId);
    return this.#arm(channelId, Date.now());
  }

  /** Fires whatever is due now; the sweep calls this for channels whose alarm fell behind. */
  async fire(channelId: string, firedBy: FiredBy): Promise<FiredRun[]> {
    await this.#remember(channelId);
    return this.#fire(channelId, firedBy);
  }

  override async alarm(): Promise<void> {
    const channelId = (await this.ctx.storage.get<string>("channelId")) ?? null;
    // The same alarm serves live Discord messages (an edit every second or so while a run
    // works): a wake for them alone skips the D1 look for due tasks.
    const now = Date.now();
    const taskAt = await this.ctx.storage.get<number | null>("taskAlarmAt");
    const loopWake = await this.ctx.storage.get<LoopWake>("loopWake");
    const loopDue = loopWake !== undefined && loopWake.at <= now;
    if (channelId && loopDue) await this.#loopDue(channelId, loopWake);
    const othersDue = loopDue || (await this.#live.isDue()) || (await this.#loopMessages.isDue());
    const forTasks = taskAt === undefined || (taskAt !== null && taskAt <= now) || !othersDue;
    if (channelId && forTasks) await this.#fire(channelId, "alarm");
    await this.#live.wake();
    await this.#loopMessages.wake();
    await this.#setAlarm();
  }

  async #fire(channelId: string, firedBy: FiredBy): Promise<FiredRun[]> {
    const now = Date.now();
    const fired = await fireDueTasks(this.env.DB, this.#db, channelId, now, firedBy);
    await this.#live.attachScheduled(channelId, fired);
    await this.#arm(channelId, now);
    if (fired.length) await this.#pump(channelId);
    return fired;
  }

  async #arm(channelId: string, now: number): Promise<number | null> {
    const due = await earliestDue(this.#db, channelId);
    const at = due === null ? null : due <= now ? now + RETRY_DELAY_MS : due;
    if (due !== null && due <= now) log.warn("channel: a task is still due after firing; retrying later", { channelId, due, retryAt: at });
    await this.ctx.storage.put("taskAlarmAt", at);
    await this.#setAlarm(at);
    return at;
  }

  /** Sets the one alarm at the earliest task, or sooner if a live Discord message needs it. */
  async #setAlarm(taskAt?: number | null): Promise<void> {
    const task = taskAt !== undefined ? taskAt : ((await this.ctx.storage.get<number | null>("taskAlarmAt")) ?? null);
    const wakes = [task, await this.#live.nextWake(), await this.#loopMessages.nextWake(), (await this.ctx.storage.get<LoopWake>("loopWake"))?.at ?? null];
    const pending = wakes.filter((w): w is number => w !== null);
    const alarm = pending.length ? Math.min(...pending) : null;
    if (alarm === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(alarm);
  }

  async #wakeBy(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    // A current alarm in the past is the one running now: it will not fire again.
    if (current === null || at < current || current <= Date.now()) await this.ctx.storage.setAlarm(at);
  }

  // ---- run queue -----------------------------------------------------------------------

  /**
   * Queues a run: the one pipeline of REST, MCP, /loop ask and relayed messages. It is
   * inserted, its live Discord message set up (the interaction that asked for it, a reply to
   * the relayed message, or else a new message in the channel's Discord channel), and it
   * starts if the channel is free. Budget checks happen when it leaves the queue (#pumpOnce).
   */
  async queueRun(channelId: string, request: RunRequest): Promise<QueuedRun> {
    await this.#remember(channelId);
    // A busy channel: the run holding it is read with the insert, for the pump below.
    const holderId = await this.ctx.storage.get<number>("active");
    const { row, created, holder } = await insertRun(this.#db, channelId, request, holderId);
    if (!created) return { run: runView(row), created };
    try {
      const live = request.live;
      if (live?.target) await this.#live.attachNew(row, live.target, live.userId ?? null);
      else await this.#live.attachChannel(channelId, row);
    } catch (err) {
      // The message is a view of the run; failing to set it up must not hold the run back.
      log.error("channel: could not set up a run's live message", { channelId, runId: row.id, error: String(err) });
    }
    try {
      await this.#pump(channelId, holderId !== undefined ? { runId: holderId, state: holder } : undefined);
    } catch (err) {
      // The run is stored and queued, so the caller must hear that it is: the sweep starts a
      // channel's stuck queue within a minute. Throwing would tell an asker "could not queue".
      log.error("channel: a queued run could not be started now; the sweep will start it", { channelId, runId: row.id, error: String(err) });
    }
    return { run: runView(row), created };
  }

  /**
   * /loop ask, after the Worker answered Discord with a deferral: everything else happens
   * here, so the Worker's invocation does one call after its answer. The channel is found
   * (or created) from the interaction's place, a refusal (another user's direct message) or
   * a failure replaces the deferred reply, and the run is queued as `queueRun` queues any run.
   */
  async ask(request: AskRequest): Promise<void> {
    try {
      const channel = await channelOfPlace(this.#db, request.place);
      if (typeof channel === "string") return await this.#answerAsk(request, channel);
      const queued: RunRequest = {
        prompt: request.prompt,
        trigger: "discord",
        requestedBy: `discord:${request.userId}`,
        live: { target: request.target, userId: request.userId },
      };
      // A channel Loop made for Discord has the Discord id as its Loop id: it is this session.
      const session = channel.id === request.place.channelId ? this : sessionOf(this.env, channel.id);
      await session.queueRun(channel.id, queued);
    } catch (err) {
      // Nothing was queued: queueRun does not throw once its run is stored.
      log.error("discord: ask failed after the deferral", { channelId: request.place.channelId, error: String(err) });
      await this.#answerAsk(request, `⚠️ ${ASK_FAILED}`);
    }
  }

  /** Replaces an ask's deferred reply with a short text (a refusal, or what went wrong). */
  async #answerAsk(request: AskRequest, content: string): Promise<void> {
    const { appId, token } = request.target;
    const res = await discordRest(this.#cfg).editOriginal(appId, token, { content, allowed_mentions: { parse: [] } });
    if (!res.ok) log.error("discord: could not answer an ask's deferral", { status: res.status, message: res.message });
  }

  /** The sweep is checking: start the next queued run if the channel is free. */
  async enqueue(channelId: string): Promise<number | null> {
    await this.#remember(channelId);
    return this.#pump(channelId);
  }

  /**
   * The Dispatcher says a run's lease ended: free the channel, keep its session, start the
   * next. A run now waiting for approval keeps the channel (its queue waits behind it, as the
   * conversation would); `events` (the approval request) go to its watchers and message.
   */
  async finished(channelId: string, runId: number, events: WireEvent[] = []): Promise<void> {
    await this.#remember(channelId);
    const run = await this.#db.query.runs.findFirst({ where: eq(runs.id, runId) });
    // A loop keeps its session to itself (or none, with fresh_session): the channel's stays.
    if (run?.sessionId && run.loopId === null) {
      await this.#db.update(channels).set({ sessionId: run.sessionId, updatedAt: Date.now() }).where(eq(channels.id, channelId));
    }
    // Its last events (and a deferral's approval request) reach watchers before the end.
    if (events.length) await this.publish(runId, events);
    if (run?.status === "waiting_approval") return;
    if ((await this.ctx.storage.get<number>("active")) === runId) await this.ctx.storage.delete("active");
    if (run) this.#watchers.complete(runView(run));
    // A run that cost something may have brought a cap near: the footer shows the day's
    // spend against the cap, and a cap past 80 % is announced once per period.
    const spend = run?.costUsd ? await this.#spendAfter(channelId) : null;
    await this.#live.finish(runId, run, spend ? { cap: footerCap(spend) } : undefined);
    if (run?.loopId != null) await this.#iterationEnded(channelId, run);
    await this.#pump(channelId);
  }

  // ---- loops ---------------------------------------------------------------------------

  /** A loop started with its first iteration queued: post its live message, start the iteration if free. */
  async loopStarted(channelId: string, loopId: number): Promise<number | null> {
    await this.#remember(channelId);
    try {
      await this.#loopMessages.attach(channelId, loopId);
    } catch (err) {
      log.error("channel: could not set up a loop's live message", { channelId, loopId, error: String(err) });
    }
    return this.#pump(channelId);
  }

  /** A loop was stopped (already marked in D1): cancel its iteration in flight, forget its wake-up. */
  async loopStopped(channelId: string, loopId: number): Promise<void> {
    await this.#remember(channelId);
    if ((await this.ctx.storage.get<LoopWake>("loopWake"))?.loopId === loopId) await this.ctx.storage.delete("loopWake");
    const inFlight = await this.#db.query.runs.findMany({
      where: and(eq(runs.loopId, loopId), eq(runs.channelId, channelId), inArray(runs.status, ["queued", "running"])),
      columns: { id: true },
    });
    for (const r of inFlight) await this.cancel(channelId, r.id);
    await this.#loopMessages.changed(loopId, true);
    await this.#setAlarm();
  }

  async #iterationEnded(channelId: string, run: RunRow): Promise<void> {
    try {
      const outcome = await iterationEnded(this.env.DB, this.#db, run, Date.now());
      if (outcome.kind === "ignored") return;
      if (outcome.kind === "next" && outcome.runId === null) await this.ctx.storage.put("loopWake", { loopId: outcome.loopId, at: outcome.at } satisfies LoopWake);
      else await this.ctx.storage.delete("loopWake");
      await this.#loopMessages.changed(outcome.loopId, outcome.kind === "ended");
      await this.#setAlarm();
    } catch (err) {
      // The channel's queue must move on; the loop's next iteration is retried by the sweep.
      log.error("channel: a loop iteration's end could not be handled", { channelId, runId: run.id, loopId: run.loopId, error: String(err) });
    }
  }

  async #loopDue(channelId: string, wake: LoopWake): Promise<void> {
    try {
      await this.ctx.storage.delete("loopWake");
      const runId = await dueIteration(this.env.DB, this.#db, wake.loopId, Date.now());
      if (runId !== null) {
        await this.#loopMessages.changed(wake.loopId, false);
        await this.#pump(channelId);
      }
    } catch (err) {
      await this.ctx.storage.put("loopWake", { ...wake, at: Date.now() + RETRY_DELAY_MS } satisfies LoopWake);
      log.error("channel: a loop's next iteration could not be queued; retrying later", { channelId, loopId: wake.loopId, error: String(err) });
    }
  }

  /**
   * A decision re-queued the channel's waiting run (issue 13): show the decision and hand the
   * run out again as a resume job.
   */
  async resume(channelId: string, runId: number, events: WireEvent[]): Promise<number | null> {
    await this.#remember(channelId);
    if (events.length) await this.publish(runId, events);
    return this.#serially(() => this.#resumeOnce(channelId, runId));
  }

  /**
   * A resume is a new start as far as spending goes: the agent works (and costs) again. So
   * it passes the same budget check as a run leaving the queue, once, here, counting what the
   * run itself spent before it waited (no sum has it yet); past a cap the
   * run ends skipped_budget (its decision stays recorded) and the channel moves on. The
   * pump's own re-hand-out of a queued active run (a hand-off that was lost) does not check
   * again: that run already passed, and the Dispatcher may hold its job.
   */
  async #resumeOnce(channelId: string, runId: number): Promise<number | null> {
    if ((await this.ctx.storage.get<number>("active")) === runId) {
      const run = await this.#db.query.runs.findFirst({ where: eq(runs.id, runId), columns: { status: true, costUsd: true } });
      if (run?.status === "queued") {
        const now = Date.now();
        const check = await readStartCheck(this.env.DB, channelId, now);
        // What the run spent before it waited is in no sum yet (it has not finished).
        const spend = check ? withUnfinishedCost(check.spend, run.costUsd) : null;
        const decision = spend ? verdict(spend) : ({ start: true } as const);
        if (!decision.start) {
          await this.#skip(runId, decision.reason, spend!, now);
          await this.ctx.storage.delete("active");
        }
      }
    }
    return this.#pumpOnce(channelId);
  }

  async #spendAfter(channelId: string) {
    try {
      const now = Date.now();
      const check = await readStartCheck(this.env.DB, channelId, now);
      if (!check) return null;
      await warnBudget(this.#db, this.#cfg, check, now);
      return check.spend;
    } catch (err) {
      // The footer figure and the warning are information; the run has ended regardless.
      log.error("channel: could not read or announce the budget after a run", { channelId, error: String(err) });
      return null;
    }
  }

  /** Cancels a queued run outright, or signals the runner of the active one. */
  async cancel(channelId: string, runId: number): Promise<CancelOutcome> {
    await this.#remember(channelId);
    const run = await this.#db.query.runs.findFirst({ where: and(eq(runs.id, runId), eq(runs.channelId, channelId)) });
    if (!run) throw new Error(`run ${runId} is not in channel ${channelId}`);
    if (isTerminal(run.status)) return { run: runView(run), outcome: "already_finished" };

    const active = await this.ctx.storage.get<number>("active");
    if (active === runId) {
      const result = await dispatcherOf(this.env).cancel(runId);
      if (result === "signalled") return { run: runView(run), outcome: "signalled" };
    }
    const ended = await endRun(this.#db, runId, "cancelled", "cancelled before it started", Date.now());
    if (active === runId) await this.finished(channelId, runId);
    else if (ended) {
      this.#watchers.complete(runView(ended));
      await this.#live.finish(runId);
    }
    const after = ended ?? (await this.#db.query.runs.findFirst({ where: eq(runs.id, runId) }))!;
    return { run: runView(after), outcome: ended ? "cancelled" : "already_finished" };
  }

  /** The run now holding the channel, if any. */
  async activeRun(): Promise<number | null> {
    return (await this.ctx.storage.get<number>("active")) ?? null;
  }

  /** `known`: the holding run's state, read moments ago (queueRun), used if it still holds the channel. */
  #pump(channelId: string, known?: KnownHolder): Promise<number | null> {
    return this.#serially(() => this.#pumpOnce(channelId, known));
  }

  /** Runs one queue move after the ones before it. */
  #serially<T>(move: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(move);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #pumpOnce(channelId: string, known?: KnownHolder): Promise<number | null> {
    const active = await this.ctx.storage.get<number>("active");
    if (active !== undefined) {
      // A state read before this move still serves: a run's status only moves forward, and
      // whatever ends it (finished, cancel) clears "active" and pumps again after.
      const run = known?.runId === active ? known.state : await this.#db.query.runs.findFirst({ where: eq(runs.id, active), columns: { status: true, deferrals: true } });
      // Queued while active: a decided approval to resume (or a hand-off that was lost).
      // Enqueueing is idempotent per run, so saying it again is harmless.
      if (run?.status === "queued") await this.#handOut(channelId, active, run.deferrals > 0);
      if (run && !isTerminal(run.status)) return active;
      // The Dispatcher's word that it ended was lost; the D1 state is the truth.
      await this.ctx.storage.delete("active");
    }
    for (;;) {
      const next = await nextQueuedRun(this.#db, channelId);
      if (!next) return null;
      // The budget check is part of the read the hand-over needs anyway (the runner label):
      // a run past a cap ends here and never reaches a runner (issue 14).
      const now = Date.now();
      const check = await readStartCheck(this.env.DB, channelId, now);
      const decision = check ? verdict(check.spend) : ({ start: true } as const);
      if (!decision.start) {
        await this.#skip(next.id, decision.reason, check!.spend, now);
        continue; // the channel moves on: the next queued run is checked the same way
      }
      await this.ctx.storage.put("active", next.id);
      await dispatcherOf(this.env).enqueue(next.id, channelId, check?.runnerLabel ?? null);
      return next.id;
    }
  }

  /** Ends a queued run as skipped_budget, with the reason and figures, and says so where it is watched. */
  async #skip(runId: number, reason: string, spend: SpendFigures, now: number): Promise<void> {
    const ended = await endRun(this.#db, runId, "skipped_budget", reason, now);
    if (!ended) return; // cancelled meanwhile
    log.info("channel: run skipped over budget", { channelId: ended.channelId, runId, reason });
    this.#watchers.complete(runView(ended));
    await this.#live.finish(runId, ended, { cap: footerCap(spend) });
    // A loop's iteration that could not start ends the loop (it says why), like any other end.
    if (ended.loopId != null) await this.#iterationEnded(ended.channelId, ended);
  }

  async #handOut(channelId: string, runId: number, resumed: boolean): Promise<void> {
    const channel = await this.#db.query.channels.findFirst({ where: eq(channels.id, channelId), columns: { runnerLabel: true } });
    // A resumed run's new lease numbers its events after the ones it already has.
    const seqFloor = resumed ? await lastEventSeq(this.env.DB, runId) : 0;
    await dispatcherOf(this.env).enqueue(runId, channelId, channel?.runnerLabel ?? null, seqFloor);
  }

  // ---- live events ---------------------------------------------------------------------

  /** New events from the runner, already stored in D1: pass them to watchers. */
  async publish(runId: number, events: WireEvent[]): Promise<void> {
    this.#watchers.publish(runId, events);
    await this.#live.publish(runId, events);
    await this.#loopMessages.runActive(runId);
  }

  /** An SSE stream of a run: its stored events, then live ones, then its completion. */
  async stream(runId: number, afterSeq = 0): Promise<ReadableStream<Uint8Array>> {
    return this.#watchers.open(runId, afterSeq);
  }

  async #remember(channelId: string): Promise<void> {
    if ((await this.ctx.storage.get<string>("channelId")) !== channelId) {
      await this.ctx.storage.put("channelId", channelId);
    }
  }
}
