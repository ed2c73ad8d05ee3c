/**
 * What a starting runner does about a crashed predecessor's runs. Their containers carry
 * this runner's key, the run and its lease (container-spec.ts LABELS): each is removed,
 * so the orphan stops working on the project, then its lease is handed back so the Worker
 * re-queues the run at once on its next attempt, rather than after the lease TTL.
 * A container without a lease label (from an older runner) is only removed; its lease ends
 * by itself.
 */
import { LABELS } from "./container-spec.ts";
import type { DockerDriver } from "./docker.ts";
import { handBack, type HandBackResult } from "./hand-back.ts";
import type { Logger } from "./log.ts";
import type { WorkerClient } from "./worker-client.ts";

export interface RecoveryOptions {
  docker: Pick<DockerDriver, "removeLabelled">;
  client: Pick<WorkerClient, "abandon">;
  runnerKey: string;
  log: Logger;
}

export async function recoverOrphans(o: RecoveryOptions): Promise<{ removed: string[]; handedBack: { runId: number; result: HandBackResult }[] }> {
  const orphans = await o.docker.removeLabelled({ [LABELS.runner]: o.runnerKey });
  if (!orphans.length) return { removed: [], handedBack: [] };
  const removed = orphans.map((c) => c.name);
  o.log.warn("removed containers left over from an earlier runner process", { containers: removed });
  o.log.human(`removed ${removed.length} container(s) left over from an earlier run: ${removed.join(", ")}`);

  const leases = new Map<number, string>();
  for (const c of orphans) {
    const runId = Number(c.labels[LABELS.run]);
    const leaseId = c.labels[LABELS.lease];
    if (Number.isSafeInteger(runId) && runId > 0 && leaseId) leases.set(runId, leaseId);
  }
  const handedBack = await Promise.all(
    [...leases].map(async ([runId, leaseId]) => ({ runId, result: await handBack(o.client, { runId, leaseId }, "restart", o.log) })),
  );
  const said = handedBack.filter((h) => h.result.outcome === "requeued" || h.result.outcome === "ended");
  if (said.length)
    o.log.human(
      `handed ${said.length} orphaned run(s) back to the Worker: ${said
        .map(({ runId, result }) => (result.outcome === "requeued" ? `run ${runId} (re-queued for attempt ${result.attempt})` : `run ${runId} (ended: no attempts left)`))
        .join(", ")}`,
    );
  return { removed, handedBack };
}
