#!/usr/bin/env bash
# The image's HEALTHCHECK, by role (the entrypoint's first argument, read from PID 1, tini):
#   web     GET /v1/ready/ answers 200 (the database and Redis answer), asked with a Host in ALLOWED_HOSTS
#   worker  the Celery worker of this container answers a ping through the broker
#   other   healthy while running (beat, one-off commands)
set -euo pipefail
role=$(tr '\0' '\n' </proc/1/cmdline | sed -n '4p')
case "$role" in
  web)
    exec python - <<'PY'
import os
import urllib.request

hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
port = os.environ.get("PORT", "8000")
request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/ready/", headers={"Host": host})
with urllib.request.urlopen(request, timeout=10) as response:
    assert response.status == 200, response.status
PY
    ;;
  worker)
    exec celery -A config inspect ping --timeout 10 -d "worker@$(cat /proc/sys/kernel/hostname)"
    ;;
  *)
    exit 0
    ;;
esac
