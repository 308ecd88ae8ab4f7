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
PG_PORT=${ORDERBRIDGE_TEST_PG_PORT:-55432}
PG_DATA="$ROOT/pg"
source "$(dirname "$0")/pg-private.sh"

cleanup() {
  pg_private_stop "$PG_DATA"
  rm -rf "$ROOT"
}
trap cleanup EXIT

if [ "$(id -u)" -eq 0 ]; then chown postgres "$ROOT"; fi  # the outage test restarts the cluster as postgres
pg_private_start "$PG_DATA" "$ROOT/run" "$PG_PORT" "$ROOT/pg.log"
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U orderbridge orderbridge_test
export ORDERBRIDGE_TEST_PG_DSN="postgresql://orderbridge@127.0.0.1:$PG_PORT/orderbridge_test"
export ORDERBRIDGE_TEST_PG_BIN="$PG_BIN" ORDERBRIDGE_TEST_PG_DATA="$PG_DATA"
echo "test-services: PostgreSQL on 127.0.0.1:$PG_PORT"

set +e
"$@"
status=$?
set -e
exit $status
