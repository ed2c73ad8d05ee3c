/**
 * Keys of the original Loop's ~/.loop/config.json (radutopala/loop internal/config) that
 * this runner does not read, each with one line saying where it went. A person switching
 * over keeps their old file and learns what to do instead of being asked about typos
 * (config-file.ts unknownKeysNotice prints them).
 */
export const ORIGINAL_KEY_NOTES: Readonly<Record<string, string>> = {
  platform: "not needed: Loop on Cloudflare talks to Discord from the Worker",
  // Read only when this runner relays Discord's Gateway (runner/config.ts lists it as ignored otherwise).
  discord_token:
    "not used: discord_gateway is off, so this runner never talks to Discord; the Worker's copy is `wrangler secret put DISCORD_BOT_TOKEN` (set discord_gateway: true to relay @mentions through this runner)",
  discord_app_id: "moved to the Worker: DISCORD_APPLICATION_ID in wrangler.toml",
  discord_guild_id: "moved to the Worker: DISCORD_GUILD_ID in wrangler.toml",
  slack_bot_token: "not supported: Loop on Cloudflare speaks Discord only",
  slack_app_token: "not supported: Loop on Cloudflare speaks Discord only",
  poll_interval_sec: "not needed: the runner long-polls the Worker, which answers the moment a job is ready",
  log_format: "not needed: the runner writes JSON lines to stdout and short human lines to stderr",
  log_file: "not needed: run the runner with `loop daemon:start` and read its log with journalctl --user -u loop-runner (or ~/Library/Logs/loop-runner.log)",
  db_path: "moved to the Worker: channels, tasks and runs live in D1; bring this database over with `loop import`",
  api_addr: "not needed: the Worker serves the REST API and /mcp",
  container_keep_alive_sec: "not needed: every run gets a fresh container",
  claude_bin_path: "not needed: claude runs inside the agent image (container_image)",
  task_templates: "moved to the Worker: `loop import` uploads them (PUT /api/templates/:name)",
  streaming_enabled: "not needed: runs always stream into Discord as one live message",
  permissions: "moved to the Worker: per-channel owners (`/loop owner add`)",
  copy_files: "not supported: mount the file read-only in mounts instead (\"~/.claude.json:~/.claude.json:ro\")",
  envs: "not supported: the agent image's environment is fixed; set variables in your own image",
  memory: "not supported: semantic memory is not part of Loop on Cloudflare",
  embeddings: "not supported: semantic memory is not part of Loop on Cloudflare",
};
