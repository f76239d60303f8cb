#!/usr/bin/env bash
# The image's entrypoint (Dockerfile): the first argument picks the role; anything else runs as given.
# `web` applies migrations before it serves, so one web container is enough to set up a fresh database; the
# worker waits until the database answers and is migrated. ENGRAM_WAIT_SECONDS (120) bounds either wait.
set -euo pipefail

# Runs "$@" until it succeeds, every 2 s, for at most ENGRAM_WAIT_SECONDS; its output shows on the last try.
retry() {
  local deadline=$((SECONDS + ${ENGRAM_WAIT_SECONDS:-120})) output
  until output=$("$@" 2>&1); do
    if ((SECONDS >= deadline)); then
      printf '%s\n' "$output" >&2
      echo "engram: gave up after ${ENGRAM_WAIT_SECONDS:-120} s: $*" >&2
      exit 1
    fi
    sleep 2
  done
  [ -z "$output" ] || printf '%s\n' "$output"
}

role=${1:-web}
[ $# -eq 0 ] || shift
case "$role" in
  web)
    echo "engram: migrating the database (waiting for it if needed)" >&2
    retry python manage.py bootstrap_admin --migrate
    exec daphne --proxy-headers -b 0.0.0.0 -p "${PORT:-8000}" "$@" config.asgi:application
    ;;
  migrate)
    retry python manage.py bootstrap_admin --migrate
    ;;
  worker)
    echo "engram: waiting for the database and its migrations" >&2
    retry python manage.py migrate --check
    exec celery -A config worker -n "worker@%h" -Q llm,embeddings,default \
      --pool="${WORKER_POOL:-threads}" --concurrency="${WORKER_CONCURRENCY:-50}" -l "${CELERY_LOG_LEVEL:-info}" "$@"
    ;;
  beat)
    exec celery -A config beat -s "${ENGRAM_DATA_DIR:-/var/lib/engram}/celerybeat-schedule" \
      -l "${CELERY_LOG_LEVEL:-info}" "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
