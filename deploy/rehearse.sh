#!/usr/bin/env bash
# The task rehearsed with a real Docker daemon (`make rehearse`; CI runs it after `make test`):
# installs Docker and mmdebstrap from Debian's packages when missing, starts dockerd when none
# answers (and stops it afterwards, by PID), builds the local base image, then runs
# tests/test_rehearsal.py (the repo's Dockerfile and task-definition.json, played locally) and the image
# reader's Docker daemon source (tests/test_images.py, marked docker).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
if ((${#need[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  # Containers use --network host only, so no bridge and no iptables rules are needed.
  dockerd --iptables=false --bridge=none >build/dockerd.log 2>&1 &
  dockerd_pid=$!
  trap 'kill "$dockerd_pid" 2>/dev/null; wait "$dockerd_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null
fi
deploy/base-image.sh
NHS_STRICT=1 .venv/bin/pytest -q -m docker tests/test_rehearsal.py tests/test_images.py
cat build/rehearsal.json
