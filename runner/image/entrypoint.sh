#!/bin/bash
# Loop agent container entrypoint.
#
# Secrets never travel as container env (that would show in `docker inspect`).
# The runner creates the container with OpenStdin + StdinOnce, attaches, and
# writes KEY=VALUE lines, then an empty line (or closes stdin). We export the
# whitelisted keys, close stdin, and exec `claude "$@"`.
#
# Non-secret knobs (ordinary container env):
#   LOOP_STDIN_TIMEOUT    seconds to wait for each line (default 30); on timeout exit 125
#   LOOP_PROMPT_ON_STDIN  =1: keep stdin open after the empty line, so claude
#                         reads the prompt from the rest of stdin (no prompt in argv)
set -uo pipefail

allowed=" ANTHROPIC_API_KEY CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_AUTH_TOKEN "
timeout="${LOOP_STDIN_TIMEOUT:-30}"

while true; do
  line=""
  IFS= read -r -t "$timeout" line
  status=$?
  if [ "$status" -gt 128 ]; then
    echo "loop-entrypoint: timed out after ${timeout}s waiting for credentials on stdin" >&2
    exit 125
  fi
  line="${line%$'\r'}"
  # EOF (status 1) with nothing read, or the empty terminator line: done.
  [ -z "$line" ] && break
  key="${line%%=*}"
  if [ "$key" = "$line" ]; then
    echo "loop-entrypoint: ignoring a stdin line without '='" >&2
  elif [[ "$allowed" == *" $key "* ]]; then
    export "$key=${line#*=}"
  else
    echo "loop-entrypoint: ignoring non-whitelisted key '$key'" >&2
  fi
  [ "$status" -ne 0 ] && break  # last line had no trailing newline
done
unset line key status allowed timeout

if [ "${LOOP_PROMPT_ON_STDIN:-0}" != 1 ]; then
  exec </dev/null
fi
exec claude "$@"
