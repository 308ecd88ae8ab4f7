#!/usr/bin/env bash
# `make demo`: orderbridge on the embedded default (SQLite) with simulated ERPNext, ShipStation and
# WooCommerce (tests/simulators/serve.py), and a stream of signed WooCommerce orders from
# `orderbridge demo`: a steady trickle, a short surge, and an ERP outage of 30 s in the middle.
# Stock levels are pushed too, so the shop's stock follows.
# Prints the console URL and the token; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${ORDERBRIDGE_BIN:-build/release/src/orderbridge}")
SIMS=tests/simulators/serve.py
PORT=${OB_DEMO_PORT:-8080}
ERP_PORT=18081 SS_PORT=18082 WOO_PORT=18083
TOKEN=demo-operator-token-0123456789
DIR=$(mktemp -d /tmp/orderbridge-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; its database and logs are in $DIR"
}
trap cleanup EXIT INT TERM

start_erp() {
  python3 "$SIMS" erpnext --port "$ERP_PORT" --items POD-CER-WHT,FLT-2-100 > "$DIR/erpnext.log" 2>&1 &
  ERP_PID=$!
  PIDS+=("$ERP_PID")
}
start_erp
python3 "$SIMS" shipstation --port "$SS_PORT" > "$DIR/shipstation.log" 2>&1 &
PIDS+=($!)
python3 "$SIMS" woocommerce --port "$WOO_PORT" --seed <(printf '%s' \
  '{"products":[{"id":11,"sku":"POD-CER-WHT","stock_quantity":40},{"id":12,"sku":"FLT-2-100","stock_quantity":300}]}') \
  > "$DIR/woocommerce.log" 2>&1 &
PIDS+=($!)

for port in "$ERP_PORT" "$SS_PORT" "$WOO_PORT"; do  # the simulators answer before the daemon starts
  for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
cat > "$DIR/orderbridge.yaml" <<YAML
server:
  listen: "127.0.0.1:$PORT"
  admin_tokens: [{name: demo, token: "$TOKEN", role: operator}]
log: {level: info, format: text}
storage: {driver: sqlite, sqlite: {path: "data/orderbridge.db"}}
stores:
  - id: main
    url: "http://127.0.0.1:$WOO_PORT"
    webhook_secrets: ["demo-webhook-secret"]
    api: {consumer_key: ck_test, consumer_secret: cs_test, rate_per_second: 20}
    poller: {enabled: true, interval: 30s}
connectors:
  - name: erp
    kind: erpnext
    base_url: "http://127.0.0.1:$ERP_PORT"
    auth: {api_key: k, api_secret: s}
    subscribe: ["order.*"]
    company: "Acme Ltd"
    warehouse: "Stores - ACME"
    timeout: 3s
    rate_limit: {per_second: 20, burst: 20, max_in_flight: 4}
    retry: {max_attempts: 30, initial_backoff: 1s, max_backoff: 20s, max_age: 1h}
    circuit_breaker: {failure_ratio: 0.5, min_requests: 10, open_for: 10s}
  - name: 3pl
    kind: shipstation
    base_url: "http://127.0.0.1:$SS_PORT"
    auth: {api_key: k, api_secret: s}
    subscribe: ["order.*"]
    rate_limit: {per_second: 0.6, burst: 2, max_in_flight: 1}
YAML
(cd "$DIR" && exec "$BIN" --config orderbridge.yaml serve > "$DIR/orderbridge.log" 2>&1) &
PIDS+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" > /dev/null && break; sleep 0.1; done

echo
echo "  console:  http://127.0.0.1:$PORT/console/   (token: $TOKEN)"
echo "  metrics:  http://127.0.0.1:$PORT/metrics"
echo "  logs:     $DIR"
echo
send() { "$BIN" --config "$DIR/orderbridge.yaml" demo --orders "$1" > /dev/null; }
curl -sf -X POST "http://127.0.0.1:$PORT/v1/inventory" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' --data '{"levels": [
    {"sku": "POD-CER-WHT", "location": "Stores - ACME", "on_hand": 25, "available": 22, "as_of": "2026-01-01T00:00:00Z", "source": "demo"},
    {"sku": "FLT-2-100", "location": "Stores - ACME", "on_hand": 180, "available": 180, "as_of": "2026-01-01T00:00:00Z", "source": "demo"}]}' > /dev/null
echo "[demo] a steady trickle: 5 orders a second for 30 s"
for _ in $(seq 1 30); do send 5; sleep 1; done
echo "[demo] a surge: 400 orders at once (the ERP lane keeps to 20 a second; the backlog drains)"
send 400
echo "[demo] ERP outage: ERPNext is down for 30 s while orders keep coming (the breaker opens, nothing is lost)"
kill -TERM "$ERP_PID"; wait "$ERP_PID" 2>/dev/null || true
for _ in $(seq 1 30); do send 3; sleep 1; done
echo "[demo] ERPNext is back: the backlog drains by itself"
start_erp
echo "[demo] a trickle continues; Ctrl-C to stop"
while true; do send 2; sleep 2; done
