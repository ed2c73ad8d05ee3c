/**
 * Approvals from Discord (issue 13): /loop policy, the waiting run's live message with its
 * buttons, who may click them, an older button refused, a double click, and /loop status
 * saying the queue waits. Signed interactions against the real Worker; Discord's REST API
 * is the fake.
 */
import { describe, expect, it } from "vitest";
import { admin, button, command, newPlace, run, runnerFor, send, snowflake, waitForCalls, webhookPath, type Place } from "./discord-helpers.ts";

const HELD = { id: "toolu_01Danger", name: "Bash", input: { command: "rm -rf build && echo ```done```", description: "clean" } };

/** A channel in ask mode with an owner, a member, a runner, and a run parked on HELD. */
async function parked(policy: Record<string, string | boolean> = {}) {
  const owner: Place = newPlace();
  await run("owner add", { user: owner.userId }, owner);
  expect((await run("policy", { mode: "ask", ...policy }, owner)).content).toContain("Policy updated");
  const runner = await runnerFor(owner.channelId);
  const interaction = command("ask", { prompt: "clean the build" }, owner);
  expect((await send(interaction)).body).toEqual({ type: 5 });
  const job = await runner.claim();
  await runner.complete(job, { status: "deferred", result_text: null, deferred_tool_use: HELD });
  return { owner, member: { ...owner, userId: snowflake() }, runner, job, token: interaction.token };
}

const click = (runId: number, deferral: number, choice: string, place: Place) => send(button(`loop:approval:${runId}:${deferral}:${choice}`, place));

describe("/loop policy", { timeout: 30_000 }, () => {
  it("anyone may read it; only owners change it; a bad rule names the option", async () => {
    const owner = newPlace();
    await run("owner add", { user: owner.userId }, owner);
    const member = { ...owner, userId: snowflake() };
    expect((await run("policy", {}, member)).content).toContain("Mode **auto**");
    const refused = await run("policy", { mode: "ask" }, member);
    expect(refused).toMatchObject({ ephemeral: true });
    expect(refused.content).toContain("Only this channel's owners can change the permission policy");
    const bad = await run("policy", { allow: "Bash(npm test" }, owner);
    expect(bad.ephemeral).toBe(true);
    expect(bad.content).toContain("allow");
    const ok = await run("policy", { mode: "ask", allow: "Bash(npm test:*)", timeout: "2h" }, owner);
    expect(ok.content).toContain("✅ Allow: `Bash(npm test:*)`");
    const channel = (await admin("GET", `/api/channels/${owner.channelId}`)).body;
    expect(channel.permission_policy).toMatchObject({ mode: "ask", allow: ["Bash(npm test:*)"], approval_timeout: "2h" });
    expect((await run("policy", { remove: "Bash(npm test:*)" }, owner)).content).toContain("✅ Allow: none");
  });
});

describe("a waiting run's message", { timeout: 30_000 }, () => {
  it("shows the held call fence-safe with Approve, Deny and Always allow; members are refused; owners approve once", async () => {
    const { owner, member, job, token, runner } = await parked();
    const calls = await waitForCalls(webhookPath(token), (c) => c.some((x) => x.body?.content?.includes("wants to run")));
    const shown = calls.find((x) => x.body?.content?.includes("wants to run"))!.body;
    expect(shown.content).toMatch(/✋ Waiting for approval of `Bash` since <t:\d+:R>, expires <t:\d+:R>/);
    // the command's own ``` cannot close the block early
    expect(shown.content).toContain("```\nrm -rf build && echo `\u200b``done`\u200b``\n```");
    expect(shown.components[0].components.map((b: any) => [b.label, b.custom_id])).toEqual([
      ["Approve", `loop:approval:${job.run_id}:1:approve`],
      ["Deny", `loop:approval:${job.run_id}:1:deny`],
      ["Always allow", `loop:approval:${job.run_id}:1:always`],
    ]);

    const status = await run("status", {}, member);
    expect(status.content).toMatch(new RegExp(`#${job.run_id} waiting for approval of \`Bash\` since <t:\\d+:R>, expires <t:\\d+:R>`));

    const refused = (await click(job.run_id, 1, "approve", member)).body;
    expect(refused.data).toMatchObject({ flags: 64 });
    expect(refused.data.content).toContain("Only this channel's owners can decide");

    const ok = (await click(job.run_id, 1, "approve", owner)).body;
    expect(ok.data.content).toContain(`Approved: run #${job.run_id} resumes`);
    const again = (await click(job.run_id, 1, "approve", owner)).body;
    expect(again.data.content).toBe(`Run #${job.run_id}'s call was already approved.`);

    const resumed = await runner.claim();
    expect(resumed.approval).toMatchObject({ tool_use_id: HELD.id, behavior: "allow" });
    const runRow = (await admin("GET", `/api/runs/${job.run_id}`)).body;
    expect(runRow.events.find((e: any) => e.type === "approval_decided").payload.by).toBe(`discord:${owner.userId}`);
  });

  it("members may decide when the policy says so; a button from an older deferral is refused", async () => {
    const { member, runner, job } = await parked({ members_can_approve: true });
    expect((await click(job.run_id, 1, "deny", member)).body.data.content).toContain("Denied");
    const resumed = await runner.claim();
    await runner.complete(resumed, { status: "deferred", result_text: null, deferred_tool_use: { ...HELD, id: "toolu_02" } });
    const old = (await click(job.run_id, 1, "approve", member)).body;
    expect(old.data.content).toContain("belongs to an earlier request");
    // A compound command has no exact rule: Always allow would mean all of Bash, so it is refused.
    const wide = (await click(job.run_id, 2, "always", member)).body;
    expect(wide.data).toMatchObject({ flags: 64 });
    expect(wide.data.content).toContain("No rule allows exactly this Bash call");
    expect(wide.data.content).toContain("`/loop policy allow:`");
    expect((await admin("GET", `/api/runs/${job.run_id}`)).body.status).toBe("waiting_approval");
    expect((await click(job.run_id, 2, "approve", member)).body.data.content).toContain("Approved");
    await runner.complete(await runner.claim(), { status: "deferred", result_text: null, deferred_tool_use: { id: "toolu_03", name: "Bash", input: { command: "npm test" } } });
    expect((await click(job.run_id, 3, "always", member)).body.data.content).toContain("Always allowed and the rule was added");
    expect((await admin("GET", `/api/channels/${member.channelId}/policy`)).body.allow).toEqual(["Bash(npm test)"]);
  });
});
