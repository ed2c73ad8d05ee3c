#!/usr/bin/env bash
# Make sure a Docker daemon answers `docker info`. Idempotent.
#
# On a fresh Debian machine (CI, root) this installs docker.io from apt and
# starts dockerd in the background without a bridge network or iptables
# rules: Loop's containers use the host network or none at all.
#   log:  /tmp/dockerd.log  (override with DOCKERD_LOG)
set -euo pipefail

log() { echo "[ensure-docker] $*"; }
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"

if docker info >/dev/null 2>&1; then
  log "docker daemon already running"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 && SUDO="sudo" || { log "not root and no sudo: cannot start dockerd"; exit 1; }
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd not found: installing docker.io via apt-get"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq docker.io >/dev/null
fi

# The docker.io package may pull in its own client; either works.
if ! command -v docker >/dev/null 2>&1; then
  log "docker client not found after install"; exit 1
fi

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd process exists but is not answering yet; waiting"
else
  log "starting dockerd --bridge=none --iptables=false (log: $DOCKERD_LOG)"
  # setsid + nohup: survive the calling shell; stdin closed.
  $SUDO setsid nohup dockerd --bridge=none --iptables=false >>"$DOCKERD_LOG" 2>&1 </dev/null &
fi

for i in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "docker daemon ready after ${i}s"
    exit 0
  fi
  sleep 1
done

log "dockerd did not become ready within 60s; last log lines:"
tail -n 30 "$DOCKERD_LOG" >&2 || true
exit 1
