/**
 * The /loop slash command as Discord registers it: the one definition both the Worker
 * (which answers it) and `loop discord register` (which publishes it) import. Data only;
 * discord-api-types supplies the types, discord-constants.ts the enum values.
 *
 * Discord enforces these shapes in its client (required options, types, lengths, choices);
 * the Worker validates again, because a command registered from an older definition can
 * still send old shapes.
 */
import type {
  APIApplicationCommandBasicOption,
  APIApplicationCommandSubcommandOption,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from "discord-api-types/v10";
import { CommandType, ContextType, IntegrationType, OptionType as Opt } from "./discord-constants.ts";
import { MAX_USD } from "./spend.ts";

export const COMMAND_NAME = "loop";

/** Discord's longest string option; longer prompts go through REST or MCP. */
export const MAX_DISCORD_PROMPT = 6000;

/** Every subcommand, as "name" or "group name". */
export const SUBCOMMANDS = [
  "ask",
  "stop",
  "schedule",
  "tasks",
  "task",
  "cancel",
  "toggle",
  "edit",
  "status",
  "dir",
  "template add",
  "template list",
  "session reset",
  "owner add",
  "owner remove",
  "owner list",
  "loop",
  "memory show",
  "memory set",
  "memory clear",
  "policy",
  "usage",
  "budget",
] as const;
export type Subcommand = (typeof SUBCOMMANDS)[number];

/** A correct example of each subcommand, shown with every validation error. */
export const EXAMPLES: Record<Subcommand, string> = {
  ask: "/loop ask prompt: What changed in the last three commits?",
  stop: "/loop stop",
  schedule:
    "/loop schedule schedule: 0 9 * * 1-5 type: cron prompt: Summarise open PRs tz: Europe/Berlin  (or schedule: 30m type: interval, schedule: in 10m type: once, or type: manual with no schedule)",
  tasks: "/loop tasks",
  task: "/loop task task_id: 12  (add run: True to run it now, the way a manual task runs)",
  cancel: "/loop cancel task_id: 12",
  toggle: "/loop toggle task_id: 12",
  edit: "/loop edit task_id: 12 schedule: 1h type: interval  (give at least one of schedule, type, prompt, tz, auto_delete_sec, worktree, origin_branch, update_before_run)",
  status: "/loop status",
  dir: "/loop dir path: /home/me/projects/api",
  "template add": "/loop template add name: daily-summary",
  "template list": "/loop template list",
  "session reset": "/loop session reset",
  "owner add": "/loop owner add user: @alice",
  "owner remove": "/loop owner remove user: @alice",
  "owner list": "/loop owner list",
  loop: "/loop loop prompt: Run the tests and fix one failure max_iterations: 10 every: 30s until: ALL TESTS PASS monitor: npm test 2>&1 | tail -n 20",
  "memory show": "/loop memory show",
  "memory set": "/loop memory set kind: persistent text: The goal is a green CI on main.",
  "memory clear": "/loop memory clear kind: working",
  policy: "/loop policy mode: ask allow: Bash(npm test:*)  (no options shows the policy; remove: takes a rule out)",
  usage: "/loop usage period: 7d  (no period shows today, 7 days and 30 days)",
  budget: "/loop budget daily_usd: 5 monthly_usd: 100  (no options shows the budget; clear: daily removes a cap)",
};

/** custom_id of the Stop button on a run's live message: "loop:stop:<run id>". */
export const STOP_BUTTON_PREFIX = "loop:stop:";
/** custom_id of the Stop button on a loop's live message: "loop:stoploop:<loop id>". */
export const LOOP_STOP_BUTTON_PREFIX = "loop:stoploop:";
/**
 * custom_id of the approval buttons on a waiting run's message:
 * "loop:approval:<run id>:<deferral>:<approve|deny|always>". The deferral tells an older
 * button (the run has deferred again since) from the current one.
 */
export const APPROVAL_BUTTON_PREFIX = "loop:approval:";

const taskId = (description: string): APIApplicationCommandBasicOption => ({
  type: Opt.Integer,
  name: "task_id",
  description,
  required: true,
  min_value: 1,
  autocomplete: true,
});

const scheduleType = (required: boolean): APIApplicationCommandBasicOption => ({
  type: Opt.String,
  name: "type",
  description: "cron, interval, once or manual",
  required,
  choices: [
    { name: "cron (5 fields, e.g. 0 9 * * 1-5)", value: "cron" },
    { name: "interval (e.g. 30m, 1h30m)", value: "interval" },
    { name: "once (e.g. in 10m, 2026-12-01T09:00:00Z)", value: "once" },
    { name: "manual (no schedule: runs only with /loop task run: True)", value: "manual" },
  ],
});

/** The original's task options (schedule_task's auto_delete_sec, worktree, origin_branch, update_before_run). */
const taskOptions = (): APIApplicationCommandBasicOption[] => [
  { type: Opt.Integer, name: "auto_delete_sec", description: "Delete each run's thread this many seconds after it ends (0 = keep)", required: false, min_value: 0, max_value: 2_592_000 },
  { type: Opt.Boolean, name: "worktree", description: "Run in the task's own git worktree instead of the directory", required: false },
  { type: Opt.String, name: "origin_branch", description: "Branch the worktree is based on (default: the directory's HEAD branch)", required: false, max_length: 200 },
  { type: Opt.Boolean, name: "update_before_run", description: "Fetch and fast-forward the worktree before each run", required: false },
];

const memoryKind = (required: boolean): APIApplicationCommandBasicOption => ({
  type: Opt.String,
  name: "kind",
  description: required ? "persistent (kept) or working (cleared after each loop iteration)" : "Which memory (default both)",
  required,
  choices: [
    { name: "persistent (kept across iterations and loops)", value: "persistent" },
    { name: "working (cleared when a loop iteration ends)", value: "working" },
  ],
});

const sub = (name: string, description: string, options: APIApplicationCommandBasicOption[] = []): APIApplicationCommandSubcommandOption => ({
  type: Opt.Subcommand,
  name,
  description,
  ...(options.length ? { options } : {}),
});

export const LOOP_COMMAND = {
  type: CommandType.ChatInput,
  name: COMMAND_NAME,
  description: "Drive Claude agents from this channel",
  // Loop keeps its own per-channel owners; Discord lets everyone see the command.
  default_member_permissions: null,
  integration_types: [IntegrationType.GuildInstall],
  // In the bot's DMs too: a DM conversation is a Loop channel of its own (`/loop dir` there).
  contexts: [ContextType.Guild, ContextType.BotDm],
  options: [
    sub("ask", "Talk to the agent in this channel", [
      { type: Opt.String, name: "prompt", description: "What to ask", required: true, min_length: 1, max_length: MAX_DISCORD_PROMPT },
    ]),
    sub("stop", "Stop this channel's active run"),
    sub("schedule", "Schedule a task (cron, interval, once or manual)", [
      { type: Opt.String, name: "prompt", description: "What the agent should do each time", required: true, min_length: 1, max_length: MAX_DISCORD_PROMPT },
      scheduleType(true),
      // Optional only because a manual task has none; the Worker asks for it otherwise.
      { type: Opt.String, name: "schedule", description: "0 9 * * 1-5 | 30m | in 10m | 2026-12-01T09:00:00Z (none for manual)", required: false, max_length: 200 },
      { type: Opt.String, name: "tz", description: "IANA time zone for cron, e.g. Europe/Berlin (default UTC)", required: false, max_length: 64 },
      ...taskOptions(),
    ]),
    sub("tasks", "List this channel's scheduled tasks"),
    sub("task", "Show a task: schedule, next times, last runs (run: True runs it now)", [
      taskId("The task to show"),
      { type: Opt.Boolean, name: "run", description: "Run the task now, outside its schedule (how a manual task runs)", required: false },
    ]),
    sub("cancel", "Delete a scheduled task", [taskId("The task to delete")]),
    sub("toggle", "Turn a scheduled task on or off", [taskId("The task to toggle")]),
    sub("edit", "Edit a scheduled task", [
      taskId("The task to edit"),
      { type: Opt.String, name: "schedule", description: "New schedule", required: false, max_length: 200 },
      scheduleType(false),
      { type: Opt.String, name: "prompt", description: "New prompt", required: false, min_length: 1, max_length: MAX_DISCORD_PROMPT },
      { type: Opt.String, name: "tz", description: "New IANA time zone (cron only)", required: false, max_length: 64 },
      ...taskOptions(),
    ]),
    sub("status", "Show this channel's directory, session, owners, runs and tasks"),
    sub("dir", "Bind this channel to a directory on the runner host", [
      { type: Opt.String, name: "path", description: "Absolute path, e.g. /home/me/projects/api", required: true, min_length: 1, max_length: 1024 },
    ]),
    {
      type: Opt.SubcommandGroup,
      name: "template",
      description: "Task templates",
      options: [
        sub("add", "Add a task template to this channel", [
          { type: Opt.String, name: "name", description: "Template name", required: true, max_length: 63, autocomplete: true },
        ]),
        sub("list", "List the available task templates"),
      ],
    },
    {
      type: Opt.SubcommandGroup,
      name: "session",
      description: "The channel's Claude session",
      options: [sub("reset", "Forget the conversation: the next ask starts fresh")],
    },
    sub("loop", "Repeat a prompt as runs until the agent calls loop_done (or until, max_iterations, /loop stop)", [
      { type: Opt.String, name: "prompt", description: "What the agent should do each iteration", required: true, min_length: 1, max_length: MAX_DISCORD_PROMPT },
      { type: Opt.Integer, name: "max_iterations", description: "Stop after this many iterations (default: until stopped)", required: false, min_value: 0, max_value: 1000 },
      { type: Opt.String, name: "every", description: "Time between iteration starts, e.g. 30s, 5m (default back to back)", required: false, max_length: 50 },
      { type: Opt.String, name: "until", description: "Stop when an answer contains this text", required: false, max_length: 500 },
      { type: Opt.String, name: "monitor", description: "A command run before each iteration; its output goes into the prompt", required: false, max_length: 2000 },
    ]),
    {
      type: Opt.SubcommandGroup,
      name: "memory",
      description: "The channel's memory, which loop iterations read and write",
      options: [
        sub("show", "Show the channel's persistent and working memory"),
        sub("set", "Replace one of the channel's memories", [memoryKind(true), { type: Opt.String, name: "text", description: "The new text", required: true, min_length: 1, max_length: MAX_DISCORD_PROMPT }]),
        sub("clear", "Clear the channel's memory", [memoryKind(false)]),
      ],
    },
    sub("policy", "Show or change what the agent may do without asking (issue 13)", [
      {
        type: Opt.String,
        name: "mode",
        description: "auto: everything runs · ask: unlisted tools wait for a click · read-only: no edits or Bash",
        required: false,
        choices: [
          { name: "auto (every tool runs)", value: "auto" },
          { name: "ask (allow rules run, the rest waits for approval)", value: "ask" },
          { name: "read-only (no edits, no Bash)", value: "read-only" },
        ],
      },
      { type: Opt.String, name: "allow", description: "Add an allow rule, e.g. Bash(npm test:*), Edit(src/**), Read", required: false, max_length: 500 },
      { type: Opt.String, name: "deny", description: "Add a deny rule, e.g. Bash(git push:*), WebFetch", required: false, max_length: 500 },
      { type: Opt.String, name: "remove", description: "Remove a rule from allow and deny", required: false, max_length: 500 },
      { type: Opt.String, name: "timeout", description: "How long a call waits for a decision, e.g. 24h, 90m", required: false, max_length: 20 },
      { type: Opt.Boolean, name: "members_can_approve", description: "Members (not only owners) may approve held calls", required: false },
    ]),
    sub("usage", "What this channel's runs cost: today, 7 and 30 days, and its top tasks", [
      {
        type: Opt.String,
        name: "period",
        description: "Only this period (default: all three)",
        required: false,
        choices: [
          { name: "today (UTC)", value: "today" },
          { name: "last 7 days", value: "7d" },
          { name: "last 30 days", value: "30d" },
        ],
      },
    ]),
    sub("budget", "Show or set this channel's daily and monthly spending caps (USD)", [
      { type: Opt.Number, name: "daily_usd", description: "Cap for one UTC day, in USD (runs past it are skipped)", required: false, min_value: 0, max_value: MAX_USD },
      { type: Opt.Number, name: "monthly_usd", description: "Cap for one UTC month, in USD", required: false, min_value: 0, max_value: MAX_USD },
      {
        type: Opt.String,
        name: "clear",
        description: "Remove a cap",
        required: false,
        choices: [
          { name: "daily", value: "daily" },
          { name: "monthly", value: "monthly" },
          { name: "both", value: "both" },
        ],
      },
    ]),
    {
      type: Opt.SubcommandGroup,
      name: "owner",
      description: "Who may manage this channel's tasks and directory",
      options: [
        sub("add", "Make someone an owner of this channel", [{ type: Opt.User, name: "user", description: "The new owner", required: true }]),
        sub("remove", "Remove an owner of this channel", [{ type: Opt.User, name: "user", description: "The owner to remove", required: true }]),
        sub("list", "List this channel's owners"),
      ],
    },
  ],
} satisfies RESTPostAPIChatInputApplicationCommandsJSONBody;

/** The application's full command list, as PUT /applications/{app}/commands takes it. */
export const COMMANDS: RESTPostAPIChatInputApplicationCommandsJSONBody[] = [LOOP_COMMAND];
