#!/bin/sh
# Loop agent container entrypoint. The runner bind-mounts this file read-only into every
# agent container and makes it the entrypoint (/bin/sh <this file> <claude args>), so any
# image with `claude` on its PATH and a POSIX /bin/sh works: it needs nothing from Loop.
#
# Secrets never travel as container env (that would show in `docker inspect`). The runner
# creates the container with OpenStdin + StdinOnce, attaches, and writes KEY=VALUE lines,
# then an empty line (or closes stdin). We export the whitelisted keys, then exec
# `claude "$@"`. If the runner vanishes, stdin closes and `read` sees EOF: no wait forever.
#
# Non-secret knobs (ordinary container env):
#   LOOP_PROMPT_ON_STDIN  =1: keep stdin open after the empty line, so claude reads the
#                         prompt from the rest of stdin (no prompt in argv)
#   LOOP_IMAGE            the image's name, for the error when it has no claude
set -u

cr=$(printf '\r')
while :; do
  line=""
  IFS= read -r line
  status=$?
  line="${line%"$cr"}"
  # EOF with nothing read, or the empty terminator line: done.
  [ -z "$line" ] && break
  key="${line%%=*}"
  if [ "$key" = "$line" ]; then
    echo "loop-entrypoint: ignoring a stdin line without '='" >&2
  else
    case "$key" in
      ANTHROPIC_API_KEY | CLAUDE_CODE_OAUTH_TOKEN | ANTHROPIC_AUTH_TOKEN) export "$key=${line#*=}" ;;
      *) echo "loop-entrypoint: ignoring non-whitelisted key '$key'" >&2 ;;
    esac
  fi
  [ "$status" -ne 0 ] && break # last line had no trailing newline
done
unset line key status cr

if ! command -v claude >/dev/null 2>&1; then
  echo "loop-entrypoint: image ${LOOP_IMAGE:-(unknown)} has no \`claude\` on its PATH ($PATH); install Claude Code in it (npm install -g @anthropic-ai/claude-code) or set container_image to an image that has it" >&2
  exit 127
fi

if [ "${LOOP_PROMPT_ON_STDIN:-0}" != 1 ]; then
  exec </dev/null
fi
exec claude "$@"
