# Shared helpers for bench/*.sh (sourced).
BIN=${ORDERBRIDGE_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build/release/src/orderbridge}

# start_daemon CONFIG_TEXT -> sets DAEMON_PID, DAEMON_PORT, DAEMON_DIR
start_daemon() {
  DAEMON_DIR=$(mktemp -d /tmp/ob-bench.XXXXXX)
  printf '%s\n' "$1" > "$DAEMON_DIR/orderbridge.yaml"
  (cd "$DAEMON_DIR" && exec "$BIN" --config orderbridge.yaml serve > "$DAEMON_DIR/log" 2>&1) &
  DAEMON_PID=$!
  for _ in $(seq 1 300); do
    DAEMON_PORT=$(grep -o '"msg":"listening","port":[0-9]*' "$DAEMON_DIR/log" 2>/dev/null | grep -o '[0-9]*$' || true)
    [ -n "$DAEMON_PORT" ] && return 0
    sleep 0.1
  done
  echo "daemon did not start:"; cat "$DAEMON_DIR/log"; return 1
}

stop_daemon() {
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
}

rss_mb() { awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$1/status"; }

machine_line() {
  echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
}
