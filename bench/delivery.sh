#!/usr/bin/env bash
# Delivery benchmark (SQLite, store bus, the `http` connector) against tests/simulators/http_sink.py
# run as a process on the same 2 cores. Three measurements:
#   throughput  N orders are committed while the lane is paused, then it is resumed: deliveries/s
#               until the backlog is empty, against a sink that answers at once
#   latency     orders offered at LAT_RATE/s for DURATION against a sink that answers in 20 ms:
#               webhook received (the envelope's received_at) to the sink's answer, p50/p99
#   surge       SURGE_RATE/s offered for SURGE_DURATION against a connector limited to LIMIT/s and a
#               sink that answers 429 beyond LIMIT in any one-second window: the most requests the
#               sink saw in one second, how many 429s, the webhook ACK latency, and the drain rate
#   SECTIONS="throughput latency surge" N=20000 LAT_RATE=500 DURATION=20 SURGE_RATE=600 SURGE_DURATION=10 LIMIT=100 BURST=1
set -euo pipefail
cd "$(dirname "$0")"
source ./common.sh
REPO=$(cd .. && pwd)
SINK=$REPO/tests/simulators/http_sink.py
FIXTURE=$REPO/tests/fixtures/woocommerce/order_simple.json
N=${N:-20000}
LAT_RATE=${LAT_RATE:-500}
DURATION=${DURATION:-20}
SURGE_RATE=${SURGE_RATE:-600}
SURGE_DURATION=${SURGE_DURATION:-10}
LIMIT=${LIMIT:-100}
BURST=${BURST:-1}
SECTIONS=${SECTIONS:-throughput latency surge}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }  # tokens that can gather: 1 loses every timer wake-up's lateness (~7 % of the rate)
SECRET=delivery-bench-secret
TOKEN=delivery-bench-token-0123456789

[ -x "$BIN" ] || { echo "delivery: $BIN not found (build the release preset first)" >&2; exit 1; }
ROOT=$(mktemp -d /tmp/ob-delivery.XXXXXX)
SINK_PID="" DAEMON_PID=""
cleanup() {
  set +e
  [ -n "$DAEMON_PID" ] && stop_daemon
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
  rm -rf "$ROOT"
}
trap cleanup EXIT

python3 gen_orders.py "$FIXTURE" "$SECRET" "$ROOT/data" $((N + 40000)) 2000000

start_sink() {  # args for http_sink.py; sets SINK_PID, SINK_PORT
  rm -f "$ROOT/sink.out"
  python3 "$SINK" --port 0 "$@" > "$ROOT/sink.out" &
  SINK_PID=$!
  for _ in $(seq 1 100); do
    SINK_PORT=$(head -n1 "$ROOT/sink.out" 2>/dev/null | grep -o '[0-9]*' || true)
    [ -n "$SINK_PORT" ] && return 0
    sleep 0.1
  done
  echo "sink did not start" >&2; exit 1
}

stop_sink() {  # sets SINK_SUMMARY (not in a $(...) subshell: wait needs the sink as a child)
  kill -TERM "$SINK_PID"; wait "$SINK_PID" || true; SINK_PID=""
  SINK_SUMMARY=$(tail -n1 "$ROOT/sink.out")
}

config() {  # $1 rate_limit flow map
  cat <<YAML
server:
  listen: "127.0.0.1:0"
  io_threads: 1
  admin_tokens: [{name: bench, token: "$TOKEN", role: operator}]
log: {level: info, format: json, access_log: false}
storage:
  driver: sqlite
  sqlite: {path: "data/orderbridge.db"}
stores:
  - id: main
    webhook_secrets: ["$SECRET"]
connectors:
  - name: sink
    kind: http
    base_url: "http://127.0.0.1:$SINK_PORT"
    path: /events
    subscribe: ["order.*"]
    timeout: 5s
    rate_limit: $1
    retry: {max_attempts: 12, initial_backoff: 200ms, max_backoff: 5s, max_age: 1h}
YAML
}

q() { sqlite3 "$DAEMON_DIR/data/orderbridge.db" "$1"; }
api() { curl -sf -X POST -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$DAEMON_PORT$1" >/dev/null; }
now() { date +%s.%N; }

machine_line
echo "orderbridge $("$BIN" version)"

# ---- throughput ---------------------------------------------------------------------------------
if want throughput; then
start_sink
start_daemon "$(config "{per_second: 100000, burst: 1000, max_in_flight: 16}")"
api /v1/connectors/sink/pause
python3 paced_load.py "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$ROOT/data" \
  --rate 2000 --duration $(awk -v n="$N" 'BEGIN{print n/2000}') --conns 32 > "$ROOT/load.out"
committed=$(q "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
t0=$(now)
api /v1/connectors/sink/resume
while [ "$(q "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")" -gt 0 ]; do sleep 0.05; done
t1=$(now)
delivered=$(q "SELECT COUNT(*) FROM deliveries WHERE state = 'delivered'")
rss=$(rss_mb "$DAEMON_PID")
stop_daemon; DAEMON_PID=""
stop_sink
awk -v n="$delivered" -v c="$committed" -v a="$t0" -v b="$t1" -v r="$rss" -v s="$SINK_SUMMARY" \
  'BEGIN{printf "throughput: %d committed, %d delivered in %.2f s = %.0f deliveries/s (RSS %s MB)\n  sink: %s\n", c, n, b-a, n/(b-a), r, s}'

fi

# ---- latency ------------------------------------------------------------------------------------
if want latency; then
start_sink --latency-ms 20
start_daemon "$(config "{per_second: 100000, burst: 1000, max_in_flight: 16}")"
python3 paced_load.py "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$ROOT/data" \
  --rate "$LAT_RATE" --duration "$DURATION" --conns 32 | sed 's/^/  webhook: /'
sleep 2
echo "latency at $LAT_RATE/s, sink answering in 20 ms, webhook received to sink answered:"
stop_daemon; DAEMON_PID=""
stop_sink
echo "  sink: $SINK_SUMMARY"

fi

# ---- surge --------------------------------------------------------------------------------------
if want surge; then
# The simulated ERP refuses beyond its limit plus the 2 % slack the target allows.
start_sink --limit-per-second $((LIMIT * 102 / 100))
start_daemon "$(config "{per_second: $LIMIT, burst: $BURST, max_in_flight: 8}")"
python3 paced_load.py "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$ROOT/data" \
  --rate "$SURGE_RATE" --duration "$SURGE_DURATION" --conns 32 | sed 's/^/  webhook: /'
t0=$(now)
backlog0=$(q "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")
while [ "$(q "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")" -gt 0 ]; do sleep 0.2; done
t1=$(now)
echo "surge: $SURGE_RATE/s offered for ${SURGE_DURATION}s against a $LIMIT/s connector; backlog $backlog0 at the end of the load"
awk -v n="$backlog0" -v a="$t0" -v b="$t1" 'BEGIN{printf "  drained in %.1f s = %.1f deliveries/s\n", b-a, n/(b-a)}'
stop_daemon; DAEMON_PID=""
stop_sink
echo "  sink: $SINK_SUMMARY"
fi
