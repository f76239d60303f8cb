#!/usr/bin/env bash
# First start: a cluster whose superuser is POSTGRES_USER (password POSTGRES_PASSWORD, scram over TCP) and the
# database POSTGRES_DB; then PostgreSQL listening on every address, with any arguments given.
set -euo pipefail
user=${POSTGRES_USER:-postgres}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password=${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}
  initdb -D "$PGDATA" -U "$user" --encoding=UTF8 --locale=C --pwfile=<(printf '%s\n' "$password") \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  db=${POSTGRES_DB:-$user}
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \"$db\" OWNER \"$user\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi
if [ "${1:-}" = postgres ]; then
  shift
  exec postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
