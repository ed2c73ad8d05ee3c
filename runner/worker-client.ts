/**
 * The runner's side of /runner/v1 (protocol/runner.ts). Every request body is built from
 * the shared schema and every answer is parsed against it; failures become a WorkerError
 * whose `kind` tells the caller what to do: retry (unreachable, server), stop the job
 * (lease_lost), or tell the user (auth, rejected, protocol).
 */
import { z } from "zod";
import {
  AbandonRequest,
  AbandonResponse,
  ClaimRequest,
  CompleteResponse,
  Completion,
  EventBatch,
  EventBatchResponse,
  HeartbeatResponse,
  Job,
  MAX_CLAIM_WAIT_MS,
  WORKTREE_REMOVALS_HEADER,
  MonitorReport,
  MonitorResponse,
  RUNNER_PATH,
  type AbandonReason,
  WorktreeRemovals,
  WorktreesRemoved,
  WorktreesRemovedResponse,
  type CompletionInput,
  type WireEvent,
} from "../protocol/runner.ts";
import { ErrorBody } from "../protocol/api.ts";
import { RelayBatch, RelayBatchResult, RelayLease, RelayLeaseRequest, type RelayBatchInput } from "../protocol/relay.ts";
import { postJson, type HttpResponse, type PostJson } from "./http-post.ts";

export type WorkerErrorKind =
  /** No answer: connection refused or reset, DNS, timeout. Retry. */
  | "unreachable"
  /** 5xx or 429: the Worker is there but cannot answer now. Retry. */
  | "server"
  /** 409: this runner no longer holds the run's lease. Stop the job, report nothing more. */
  | "lease_lost"
  /** 401/403: the runner token is wrong or revoked. */
  | "auth"
  /** Another 4xx: the Worker refused the request itself; retrying the same body is useless. */
  | "rejected"
  /** The answer did not match protocol/runner.ts: a version mismatch. */
  | "protocol";

export class WorkerError extends Error {
  override name = "WorkerError";
  readonly kind: WorkerErrorKind;
  readonly status: number | null;
  constructor(kind: WorkerErrorKind, message: string, status: number | null = null) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
  get retryable(): boolean {
    return this.kind === "unreachable" || this.kind === "server";
  }
}

export interface WorkerClientOptions {
  url: string;
  token: string;
  runnerVersion: string;
  /** The HTTP transport (tests may wrap it). */
  post?: PostJson;
  /** Per-request timeout for everything but claim (which waits by design). */
  requestTimeoutMs?: number;
  /** The config's labels: narrow which registered labels this runner serves. */
  labels?: string[];
  /** A claim's answer said worktrees of deleted tasks wait to be removed (WORKTREE_REMOVALS_HEADER). */
  onWorktreeRemovals?: () => void;
}

export class WorkerClient {
  readonly #url: string;
  readonly #token: string;
  readonly #version: string;
  readonly #post: PostJson;
  readonly #timeoutMs: number;
  readonly #labels: string[] | undefined;
  readonly #onWorktreeRemovals: (() => void) | undefined;

  constructor(opts: WorkerClientOptions) {
    this.#url = opts.url.replace(/\/+$/, "");
    this.#token = opts.token;
    this.#version = opts.runnerVersion;
    this.#post = opts.post ?? postJson;
    this.#timeoutMs = opts.requestTimeoutMs ?? 20_000;
    this.#labels = opts.labels?.length ? opts.labels : undefined;
    this.#onWorktreeRemovals = opts.onWorktreeRemovals;
  }

  /** Long-polls for a job: null when none arrived within waitMs. */
  async claim(waitMs: number = MAX_CLAIM_WAIT_MS, signal?: AbortSignal): Promise<Job | null> {
    const body = ClaimRequest.parse({ wait_ms: waitMs, runner_version: this.#version, labels: this.#labels });
    const res = await this.#send("/claim", body, signal, waitMs + this.#timeoutMs);
    if (res.headers?.[WORKTREE_REMOVALS_HEADER]) this.#onWorktreeRemovals?.();
    if (res.status === 204) return null;
    return this.#parse(res, Job, "claim");
  }

  async heartbeat(runId: number, leaseId: string, signal?: AbortSignal): Promise<HeartbeatResponse> {
    return this.#parse(await this.#send(`/runs/${runId}/heartbeat`, { lease_id: leaseId }, signal), HeartbeatResponse, "heartbeat");
  }

  async events(runId: number, leaseId: string, events: WireEvent[], signal?: AbortSignal): Promise<EventBatchResponse> {
    const body = EventBatch.parse({ lease_id: leaseId, events });
    return this.#parse(await this.#send(`/runs/${runId}/events`, body, signal), EventBatchResponse, "events");
  }

  /** A loop iteration's monitor output; the answer is the prompt to run claude with. */
  async monitor(runId: number, report: MonitorReport, signal?: AbortSignal): Promise<MonitorResponse> {
    const body = MonitorReport.parse(report);
    return this.#parse(await this.#send(`/runs/${runId}/monitor`, body, signal), MonitorResponse, "monitor");
  }

  async complete(runId: number, completion: CompletionInput, signal?: AbortSignal): Promise<CompleteResponse> {
    const body = Completion.parse(completion);
    return this.#parse(await this.#send(`/runs/${runId}/complete`, body, signal), CompleteResponse, "complete");
  }

  /** Hands the lease back without a result: the Worker re-queues the run at once. */
  async abandon(runId: number, leaseId: string, reason: AbandonReason, signal?: AbortSignal): Promise<AbandonResponse> {
    const body = AbandonRequest.parse({ lease_id: leaseId, reason });
    return this.#parse(await this.#send(`/runs/${runId}/abandon`, body, signal), AbandonResponse, "abandon");
  }

  /** Worktrees of deleted tasks that this runner made and still has to remove. */
  async worktreeRemovals(signal?: AbortSignal): Promise<WorktreeRemovals> {
    return this.#parse(await this.#send("/worktrees/removals", {}, signal), WorktreeRemovals, "worktree removals");
  }

  async worktreesRemoved(taskIds: number[], signal?: AbortSignal): Promise<WorktreesRemovedResponse> {
    const body = WorktreesRemoved.parse({ task_ids: taskIds });
    return this.#parse(await this.#send("/worktrees/removed", body, signal), WorktreesRemovedResponse, "worktrees removed");
  }

  /** Asks for (or renews) the conversation relay's lease. */
  async relayLease(instance: string, dmDir: string | null, signal?: AbortSignal): Promise<RelayLease> {
    const body = RelayLeaseRequest.parse({ instance, dm_dir: dmDir });
    return this.#parse(await this.#send("/relay/lease", body, signal), RelayLease, "relay lease");
  }

  async releaseRelay(instance: string, signal?: AbortSignal): Promise<RelayLease> {
    const body = RelayLeaseRequest.parse({ instance });
    return this.#parse(await this.#send("/relay/release", body, signal), RelayLease, "relay release");
  }

  /** Forwards relayed Discord messages; 409 (lease_lost) when another runner relays now. */
  async relayMessages(batch: RelayBatchInput, signal?: AbortSignal): Promise<RelayBatchResult> {
    const body = RelayBatch.parse(batch);
    return this.#parse(await this.#send("/discord/messages", body, signal), RelayBatchResult, "relay messages");
  }

  async #send(path: string, body: unknown, signal: AbortSignal | undefined, timeoutMs = this.#timeoutMs): Promise<HttpResponse> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: HttpResponse;
    try {
      res = await this.#post(`${this.#url}${RUNNER_PATH}${path}`, { authorization: `Bearer ${this.#token}` }, JSON.stringify(body), signal ? AbortSignal.any([signal, timeout]) : timeout);
    } catch (err) {
      if (signal?.aborted) throw err; // our own cancellation, not the Worker's fault
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : "";
      const what = timeout.aborted ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `${err instanceof Error ? err.message : err}${cause}`;
      throw new WorkerError("unreachable", `POST ${path}: ${what}`);
    }
    if (res.status >= 200 && res.status < 300) return res;
    const detail = errorDetail(res);
    const message = `POST ${path}: ${res.status} ${detail}`;
    if (res.status === 409) throw new WorkerError("lease_lost", message, 409);
    if (res.status === 401 || res.status === 403) throw new WorkerError("auth", message, res.status);
    if (res.status === 429 || res.status >= 500) throw new WorkerError("server", message, res.status);
    throw new WorkerError("rejected", message, res.status);
  }

  #parse<T extends z.ZodType>(res: HttpResponse, schema: T, what: string): z.infer<T> {
    let json: unknown;
    try {
      json = JSON.parse(res.body);
    } catch (err) {
      throw new WorkerError("unreachable", `${what}: the answer was cut off or not JSON (${err instanceof Error ? err.message : err})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new WorkerError("protocol", `${what}: the Worker's answer does not match protocol/runner.ts: ${z.prettifyError(parsed.error)}`);
    return parsed.data;
  }
}

function errorDetail(res: HttpResponse): string {
  const text = res.body;
  try {
    const parsed = ErrorBody.safeParse(JSON.parse(text));
    if (parsed.success) return `${parsed.data.error.code}: ${parsed.data.error.message}`;
  } catch {}
  return text.slice(0, 200) || "(no body)";
}
