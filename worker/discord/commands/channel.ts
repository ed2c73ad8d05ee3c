/** /loop status, dir, session reset, owner …, template …: the channel's own settings. */
import { VERSION } from "../../../core/env.ts";
import { AppError } from "../../../core/errors.ts";
import { resetSession } from "../../../core/domain/channels.ts";
import { addOwners, bindDirectory, removeOwner } from "../../../core/domain/discord-channels.ts";
import { mirroredRelayHolder } from "../../../core/domain/relay.ts";
import { listRuns } from "../../../core/domain/runs.ts";
import { listTasks } from "../../../core/domain/tasks.ts";
import { runView, taskView } from "../../../core/domain/views.ts";
import { policyOf } from "../../../core/domain/policy.ts";
import { addTemplateToChannel, listTemplates } from "../../../core/domain/templates.ts";
import { discordTime, inlineCode, mention, waitingForApproval } from "../../../core/discord/format.ts";
import { ephemeral, message } from "../reply.ts";
import { listMessage, scheduleText } from "./tasks.ts";
import type { CommandSpec } from "./types.ts";
import { cutLine } from "../../../core/text.ts";

const BOOTSTRAP_NOTE = "nobody yet — bootstrap mode: everyone is an owner until `/loop owner add` names one";

export const status: CommandSpec<"status"> = {
  owners: null,
  async run({ access }) {
    const { ctx, channel } = access;
    const parent = channel.parentId ? access.holder : null;
    // Read with the channel, in its one D1 round trip (resolveAccess's preloadStatus), the
    // relay's holder included: D1 mirrors the Dispatcher's lease whenever its holder changes,
    // so no call to the Dispatcher waits beside it (issue 15). A channel runs in order, so its
    // running and waiting runs are among its newest.
    const [recent, tasks, relay] = access.status
      ? [access.status.active.map(runView), access.status.tasks.map(taskView), access.status.relay]
      : await Promise.all([listRuns(ctx, { channel_id: channel, limit: 200 }), listTasks(ctx, channel), mirroredRelayHolder(ctx.db)]);
    const running = recent.filter((r) => r.status === "running");
    const queued = recent.filter((r) => r.status === "queued");
    // A run waiting for approval holds the channel: what is queued waits behind it.
    const waiting = recent.find((r) => r.status === "waiting_approval");
    const dir = channel.dirPath ?? parent?.dirPath ?? null;
    const enabled = tasks.filter((t) => t.enabled).length;
    const lines = [
      `**Loop status** · ${channel.parentId ? "thread" : "channel"} ${inlineCode(channel.id)}`,
      `📁 Directory: ${dir ? `${inlineCode(dir)}${!channel.dirPath ? " (the parent channel's)" : ""}` : "not bound — `/loop dir path: /absolute/path` (runs use a scratch directory)"}`,
      `🏷️ Runners: ${channel.runnerLabel ? `label ${inlineCode(channel.runnerLabel)}` : "any runner"}`,
      `🧠 Session: ${channel.sessionId ? `continuing ${inlineCode(channel.sessionId.slice(0, 8))}… (\`/loop session reset\` starts over)` : "none — the next ask starts a fresh conversation"}`,
      `👑 Owners: ${access.bootstrap ? BOOTSTRAP_NOTE : access.owners.map(mention).join(", ")}`,
      waiting
        ? `✋ Runs: #${waiting.id} ${waitingForApproval(waiting.pending_approval?.tool_name ?? "a tool call", waiting.pending_approval?.requested_at ?? null, waiting.pending_approval?.expires_at ?? null)}; no container is held${queued.length ? ` · ${queued.length} queued behind it` : ""}`
        : `▶️ Runs: ${running[0] ? `#${running[0].id} running since ${discordTime(running[0].started_at)}` : "none running"}${queued.length ? ` · ${queued.length} waiting` : ""}`,
      `🛡️ Policy: ${policyOf(channel.permissionPolicy).mode} (\`/loop policy\` shows it)`,
      `⏰ Tasks: ${enabled} on, ${tasks.length - enabled} paused`,
      `📡 Relay: ${relay ? `runner ${inlineCode(relay.runnerName ?? relay.runnerId)} holds the Gateway (@mentions, replies, \`!loop\`, DMs)` : "none — only slash commands reach Loop (a runner with `discord_gateway: true` relays messages)"}`,
      `-# Loop ${VERSION}`,
    ];
    return ephemeral(lines.join("\n"));
  },
};

export const dir: CommandSpec<"dir"> = {
  owners: "bind the channel to a directory",
  async run({ access, options }) {
    const { channel, changed } = await bindDirectory(access.ctx, access.channel.id, options.path);
    if (!changed) return ephemeral(`📁 This channel already works in ${inlineCode(channel.dir_path!)}.`);
    return message(`📁 This channel now works in ${inlineCode(channel.dir_path!)} on the runner host. The Claude session was reset.`);
  },
};

export const sessionReset: CommandSpec<"session reset"> = {
  owners: "reset the session",
  async run({ access }) {
    await resetSession(access.ctx, access.channel.id);
    return message("🧹 Session reset: the next `/loop ask` starts a fresh conversation.");
  },
};

export const ownerAdd: CommandSpec<"owner add"> = {
  owners: "add owners",
  async run({ access, options }) {
    // Ending bootstrap mode makes the person who does it an owner too, so nobody locks
    // themselves out by naming someone else first.
    const ids = access.bootstrap ? [access.userId, options.user] : [options.user];
    const owners = await addOwners(access.ctx, access.channel.id, ids);
    const note = access.bootstrap ? "\n-# Bootstrap mode is over: only owners can now manage tasks, templates, the directory and the session." : "";
    return message(`👑 Owners: ${owners.map(mention).join(", ")}${note}`);
  },
};

export const ownerRemove: CommandSpec<"owner remove"> = {
  owners: "remove owners",
  async run({ access, options }) {
    const owners = await removeOwner(access.ctx, access.channel.id, options.user);
    return message(`👑 Removed ${mention(options.user)}. Owners: ${owners.map(mention).join(", ")}`);
  },
};

export const ownerList: CommandSpec<"owner list"> = {
  owners: null,
  async run({ access }) {
    return ephemeral(`👑 Owners: ${access.bootstrap ? BOOTSTRAP_NOTE : access.owners.map(mention).join(", ")}`);
  },
};

export const templateAdd: CommandSpec<"template add"> = {
  owners: "add templates",
  async run({ access, options }) {
    const { task, created } = await addTemplateToChannel(access.ctx, access.channel.id, options.name).catch((err: unknown) => {
      if (err instanceof AppError && err.code === "not_found") {
        throw new AppError(404, "not_found", `there is no template named ${options.name}; \`/loop template list\` shows them.`, "name");
      }
      throw err;
    });
    if (!created) return ephemeral(`Template ${inlineCode(options.name)} is already in this channel as task \`#${task.id}\`.`);
    return message(`⏰ Added template ${inlineCode(options.name)} as task \`#${task.id}\`: ${scheduleText(task)} · next ${discordTime(task.next_run_at)}\n> ${cutLine(task.prompt, 300)}`);
  },
};

export const templateList: CommandSpec<"template list"> = {
  owners: null,
  async run({ access }) {
    const list = await listTemplates(access.ctx);
    if (!list.length) return ephemeral("No templates yet. An admin adds them with `PUT /api/templates/<name>`.");
    const lines = list.map((t) => `${inlineCode(t.name)} · ${t.type} ${inlineCode(t.schedule)}${t.description ? ` — ${cutLine(t.description, 100)}` : ""}`);
    return ephemeral(listMessage(`**Task templates** (${list.length}) · add one with \`/loop template add\``, lines));
  },
};
