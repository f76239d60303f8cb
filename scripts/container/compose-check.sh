#!/usr/bin/env bash
# make compose-check: builds the images, brings the compose stack up, runs an SDK turn against it and tears it down
# (tests/containers/compose_check.py). Usage: compose-check.sh PYTHON (one with the dev dependencies: letta-client).
# podman + podman-compose when podman is installed, else docker + `docker compose`.
set -euo pipefail
python=${1:?usage: compose-check.sh PYTHON}
cd "$(dirname "$0")/../.."
base=docker.io/library/debian:bookworm-slim

if command -v podman >/dev/null 2>&1; then
  engine=podman compose=(podman-compose)
  command -v podman-compose >/dev/null || { echo "podman-compose is missing: pip install podman-compose" >&2; exit 1; }
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
  engine=docker compose=(docker compose)
else
  echo "compose-check needs podman and podman-compose (apt-get install -y podman), or docker with compose" >&2
  exit 1
fi

scripts/container/local-images.sh "$engine"

# Some hosts (hybrid cgroups, no CAP_SYS_RESOURCE) refuse podman's defaults (crun, systemd cgroups, ulimits):
# runc with cgroupfs and no default ulimits works there. Only when the defaults fail and nothing is configured.
if [ "$engine" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] &&
  ! podman run --rm --network host "$base" true >/dev/null 2>&1; then
  conf=$(mktemp --suffix=.conf)
  trap 'rm -f "$conf"' EXIT
  printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' >"$conf"
  export CONTAINERS_CONF=$conf
  podman run --rm --network host "$base" true
  echo "podman's defaults do not run containers here; using runc with cgroupfs ($conf)" >&2
fi

echo "Building engram:latest…" >&2
start=$SECONDS
# podman's default image format (OCI) has no HEALTHCHECK; the docker format keeps it.
format=()
[ "$engine" = podman ] && format=(--format docker)
"$engine" build "${format[@]}" --network host -t engram:latest .
echo "Built engram:latest in $((SECONDS - start)) s" >&2
exec "$python" -m tests.containers.compose_check "$engine" "${compose[@]}"
