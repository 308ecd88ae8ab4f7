#!/usr/bin/env bash
# Starts the services the test suite needs on private ports and data directories, runs a command,
# and stops what it started, whatever the command's outcome.
#   scripts/test-services.sh run -- ctest --preset ci
# Exported to the command: ORDERBRIDGE_TEST_PG_DSN (a private PostgreSQL 15 cluster).
set -euo pipefail

[ "${1:-}" = "run" ] && [ "${2:-}" = "--" ] || { echo "usage: $0 run -- COMMAND..." >&2; exit 2; }
shift 2

ROOT=$(mktemp -d /tmp/orderbridge-test.XXXXXX)
chmod 755 "$ROOT"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
PG_PORT=${ORDERBRIDGE_TEST_PG_PORT:-55432}
PG_DATA="$ROOT/pg"
AS=()
if [ "$(id -u)" -eq 0 ]; then AS=(runuser -u postgres --); chown postgres "$ROOT"; fi

cleanup() {
  if [ -n "$PG_BIN" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$ROOT"
}
trap cleanup EXIT

if [ -n "$PG_BIN" ]; then
  "${AS[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U orderbridge --auth=trust -E UTF8 >/dev/null
  cat >> "$PG_DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$ROOT'
fsync = on
max_connections = 200
shared_buffers = 128MB
CONF
  "${AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$ROOT/pg.log" -w start >/dev/null
  "${AS[@]}" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U orderbridge orderbridge_test
  export ORDERBRIDGE_TEST_PG_DSN="postgresql://orderbridge@127.0.0.1:$PG_PORT/orderbridge_test"
  export ORDERBRIDGE_TEST_PG_BIN="$PG_BIN" ORDERBRIDGE_TEST_PG_DATA="$PG_DATA"
  echo "test-services: PostgreSQL on 127.0.0.1:$PG_PORT"
else
  echo "test-services: no PostgreSQL server found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

set +e
"$@"
status=$?
set -e
exit $status
