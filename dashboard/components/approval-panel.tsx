/**
 * The tool call a run waits on (issue 13), with Approve, Deny and Always allow: the same
 * decision as the Discord buttons, through POST /api/runs/:id/approval. The deferral number
 * goes along, so a page left open on an older deferral gets the Worker's 409, not a decision
 * on a call nobody here saw.
 */
import { useState } from "preact/hooks";
import type { Run } from "../../protocol/api.ts";
import type { ApprovalChoice, PendingApproval } from "../../protocol/policy.ts";
import { api, ApiError } from "../api.ts";
import { local } from "../format.ts";
import { ErrorNote, When } from "./bits.tsx";

const LABEL: Record<ApprovalChoice, string> = { approve: "Approve", deny: "Deny", always_allow: "Always allow" };

export function ApprovalPanel({ runId, pending, onDecided }: { runId: number; pending: PendingApproval; onDecided: (run: Run) => void }) {
  const [busy, setBusy] = useState<ApprovalChoice | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [reason, setReason] = useState("");

  async function decide(decision: ApprovalChoice) {
    setBusy(decision);
    setError(null);
    try {
      const body = { decision, deferral: pending.deferral, ...(decision === "deny" && reason.trim() ? { reason: reason.trim() } : {}) };
      const res = await api<{ run: Run }>("POST", `/api/runs/${runId}/approval`, body);
      onDecided(res.run);
    } catch (err) {
      setError(err as ApiError);
    } finally {
      setBusy(null);
    }
  }

  return (
    <section class="approval" aria-labelledby="approval-title">
      <h2 id="approval-title">Waiting for approval</h2>
      <p>
        The agent wants to run <strong>{pending.tool_name}</strong>. Asked <When iso={pending.requested_at} />. If nobody decides by {local(pending.expires_at)}, the call
        is denied with the reason "no decision".
      </p>
      <pre class="approval-input" aria-label="Tool input">
        {JSON.stringify(pending.input, null, 2)}
      </pre>
      <label class="approval-reason">
        Reason told to the agent if you deny (optional)
        <input type="text" value={reason} maxLength={1000} onInput={(e) => setReason(e.currentTarget.value)} />
      </label>
      <div class="approval-actions">
        {(["approve", "deny", "always_allow"] as const).map((d) => (
          <button type="button" key={d} class={d === "deny" ? "danger" : undefined} disabled={busy !== null} onClick={() => decide(d)} aria-describedby={error ? "approval-error" : undefined}>
            {busy === d ? `${LABEL[d]}…` : LABEL[d]}
          </button>
        ))}
      </div>
      <ErrorNote error={error} id="approval-error" />
    </section>
  );
}
