#!/usr/bin/env bash
# Ingest benchmark: signed WooCommerce order.created webhooks (distinct order ids, 5 KB bodies),
# answered only once the delivery is committed. Side by side on the same machine and PostgreSQL:
#   peer            the hand-written fastify + pg receiver of shared/peers (one INSERT per webhook)
#   orderbridge_pg  orderbridge on PostgreSQL (normalize, dedupe, entity + outbox + raw archive)
# alternating ROUNDS times, then orderbridge on SQLite, then an open-loop run at PACED_RATE/s
# (loadgen's paced mode, or bench/paced_load.py; wrk2 is not a Debian package) for ack latency.
# Every run starts on a fresh database and an idle cluster (the previous run's rows removed, no
# autovacuum busy, a checkpoint and a sync), is preceded by an uncounted warm-up on other order ids,
# and reports what was committed (rows counted in the database), not what the load tool saw answered.
# With UPDATES=1 (the default) orderbridge also runs updates: newer versions (a later date_modified;
# same ids, same size, sent as woo.lua sends them) of the orders it stored during a first, uncounted
# phase twice as long.
#   DURATION=20s CONNS=64 ROUNDS=2 COUNT=600000 PACED_RATE=2000 PACED_DURATION=$DURATION UPDATES=1
#   LOAD_TOOL=loadgen (default) sends the load with bench/loadgen.cpp, built here (14-29 µs of CPU per
#   request here); LOAD_TOOL=wrk with wrk and the peer's woo.lua (49-80 µs; what the peer's README
#   measured with) and paced_load.py. Both send the same requests.
#   CALIBRATE=1 first measures the machine with pgbench (one-row INSERT transactions/s on the same cluster).
#   DB_LOCALE=en_US.UTF-8 creates both receivers' databases with that locale (the locale must exist on
#   the machine: localedef -i en_US -f UTF-8 en_US.UTF-8); by default they have the cluster's, C.
#   PACED_PEER=1 also paces the peer; IO_THREADS=N sets orderbridge's server.io_threads (default 0, one per core); ORDERBRIDGE_SHARED points at the shared/ dir (default ../shared).
set -euo pipefail
export LC_ALL=C  # `times` and awk: "1.5", not "1,5"
cd "$(dirname "$0")"
source ./common.sh
BENCH=$(pwd)
REPO=$(cd .. && pwd)
SHARED=${ORDERBRIDGE_SHARED:-$REPO/../shared}
PEERS=$SHARED/peers
LUA=$PEERS/load/woo.lua
FIXTURE=$REPO/tests/fixtures/woocommerce/order_simple.json

DURATION=${DURATION:-20s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-2}
COUNT=${COUNT:-600000}
WARMUP=${WARMUP:-3s}
WARM_COUNT=${WARM_COUNT:-60000}
PACED_RATE=${PACED_RATE:-2000}
PACED_DURATION=${PACED_DURATION:-$DURATION}
PACED_PEER=${PACED_PEER:-0}
IO_THREADS=${IO_THREADS:-0}  # orderbridge's default: one io thread per core
UPDATES=${UPDATES:-1}
LOAD_TOOL=${LOAD_TOOL:-loadgen}  # loadgen (bench/loadgen.cpp) or wrk (wrk + woo.lua, paced_load.py)
CALIBRATE=${CALIBRATE:-1}  # pgbench one-row INSERTs on the same cluster first, CAL_SECONDS per mode
CAL_SECONDS=${CAL_SECONDS:-10}
DB_LOCALE=${DB_LOCALE:-}
DB_OPTS=()
[ -z "$DB_LOCALE" ] || DB_OPTS=(--template=template0 --locale="$DB_LOCALE")
PG_PORT=${ORDERBRIDGE_BENCH_PG_PORT:-55433}
SECRET=${BENCH_WEBHOOK_SECRET:-ingest-bench-secret-5f0c2a}
BASE=1000000       # measured runs use order ids BASE..BASE+COUNT-1 (7 digits, so every body has one size)
WARM_BASE=5000000  # warm-ups use ids that never collide with them (orderbridge would answer "duplicate")

secs() {  # wrk-style duration (20s, 2m, 500ms, 20) -> seconds
  case $1 in
    *ms) awk -v v="${1%ms}" 'BEGIN{print v/1000}' ;;
    *s) echo "${1%s}" ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *) echo "$1" ;;
  esac
}

# ---- tools (Debian packages, installed only when missing) -------------------------------------------
PG_BIN=/usr/lib/postgresql/15/bin
[ -x "$PG_BIN/initdb" ] || PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n1)
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v wrk >/dev/null || missing+=(wrk)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
command -v python3 >/dev/null || missing+=(python3)
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || missing+=(postgresql-15)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "ingest: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  PG_BIN=/usr/lib/postgresql/15/bin
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || echo "ingest: warning: node $(node --version); fastify 5 (the peer) needs Node.js 20 or later" >&2
[ -f "$LUA" ] || { echo "ingest: $PEERS not found (set ORDERBRIDGE_SHARED to the shared/ directory)" >&2; exit 1; }

# The release binary may be rebuilt by someone else while this runs: wait for it, then use a copy.
# (a file touched in the last 5 s may still be being linked)
for _ in $(seq 1 "${BIN_WAIT_S:-600}"); do
  [ -x "$BIN" ] && [ $(( $(date +%s) - $(stat -c %Y "$BIN") )) -ge 5 ] && break
  sleep 1
done
[ -x "$BIN" ] || { echo "ingest: $BIN not found (build the release preset first)" >&2; exit 1; }
ORIG_BIN=$BIN

ROOT=$(mktemp -d /tmp/ob-ingest.XXXXXX)
chmod 755 "$ROOT"
PEER_PID="" DAEMON_PID="" DAEMON_DIR=""
cleanup() {
  set +e
  [ -n "$DAEMON_PID" ] && stop_daemon && rm -rf "$DAEMON_DIR"
  [ -n "$PEER_PID" ] && kill -TERM "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
  pg_private_stop "$ROOT/pg"
  rm -rf "$ROOT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$ROOT/bin"
cp "$BIN" "$ROOT/bin/orderbridge"
if [ "$LOAD_TOOL" = loadgen ]; then
  "${CXX:-c++}" -std=c++20 -O2 -pthread -o "$ROOT/bin/loadgen" "$BENCH/loadgen.cpp" ||
    { echo "ingest: cannot build bench/loadgen.cpp (LOAD_TOOL=wrk uses wrk instead)" >&2; exit 1; }
elif [ "$LOAD_TOOL" != wrk ]; then
  echo "ingest: LOAD_TOOL is loadgen or wrk, not $LOAD_TOOL" >&2; exit 1
fi
BIN=$ROOT/bin/orderbridge
"$BIN" version >/dev/null || { echo "ingest: $BIN does not run" >&2; exit 1; }

# ---- private PostgreSQL 15 cluster (as scripts/test-services.sh) -------------------------------------
source "$REPO/scripts/pg-private.sh"
pg_private_start "$ROOT/pg" "$ROOT/pgrun" "$PG_PORT" "$ROOT/pgrun/pg.log"
PGARGS=(-h 127.0.0.1 -p "$PG_PORT" -U orderbridge)
pgq() { "$PG_BIN/psql" "${PGARGS[@]}" -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
"$PG_BIN/createdb" "${PGARGS[@]}" "${DB_OPTS[@]}" peers
"$PG_BIN/psql" "${PGARGS[@]}" -d peers -Xq -v ON_ERROR_STOP=1 -f "$PEERS/schema.sql" >/dev/null

# ---- the peer ------------------------------------------------------------------------------------------
PEER=$ROOT/peer
mkdir -p "$PEER"
cp -r "$PEERS/fastify/." "$PEER"
chmod -R u+w "$PEER"
(cd "$PEER" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# ---- load data -----------------------------------------------------------------------------------------
# gen_data.js replaces every occurrence of the fixture's order id (4101) with the new id. In
# order_simple.json all five are the order itself (id, number, payment_url, _links self and
# email_templates); this guard catches a fixture where the digits also sit inside another number.
fid=$(grep -o '^{"id":[0-9]*' "$FIXTURE" | grep -o '[0-9]*$')
if grep -qE "[0-9]${fid}|${fid}[0-9]" "$FIXTURE"; then
  echo "ingest: order id $fid also occurs inside another number in $FIXTURE; gen_data.js would change it" >&2; exit 1
fi
node "$PEERS/load/gen_data.js" "$FIXTURE" "$SECRET" "$ROOT/data" "$COUNT" "$BASE" >/dev/null
node "$PEERS/load/gen_data.js" "$FIXTURE" "$SECRET" "$ROOT/warm" "$WARM_COUNT" "$WARM_BASE" >/dev/null
if [ "$UPDATES" = 1 ]; then
  # The same orders modified an hour later: a newer version of each (same ids, same body size).
  python3 - "$FIXTURE" "$ROOT/order_updated.json" <<'PY'
import re, sys
body = open(sys.argv[1], "rb").read()
def later(m):
    assert int(m.group(2)) < 23, "the fixture is modified too late in its day to add an hour"
    return m.group(1) + b"%02d" % (int(m.group(2)) + 1) + m.group(3)
out, n = re.subn(rb'("date_modified(?:_gmt)?":"\d{4}-\d\d-\d\dT)(\d\d)(:\d\d:\d\d")', later, body)
assert n == 2 and len(out) == len(body), n
open(sys.argv[2], "wb").write(out)
PY
  node "$PEERS/load/gen_data.js" "$ROOT/order_updated.json" "$SECRET" "$ROOT/updated" "$COUNT" "$BASE" >/dev/null
fi
BODY_BYTES=$(sed -n 's/^bytes_at_base=//p' "$ROOT/data/meta.txt")

# ---- helpers -------------------------------------------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_peer() {
  PEER_PORT=$(free_port)
  WC_WEBHOOK_SECRET=$SECRET DATABASE_URL="postgresql://orderbridge@127.0.0.1:$PG_PORT/peers" PORT=$PEER_PORT \
    HOST=127.0.0.1 node "$PEER/server.js" > "$ROOT/peer.log" 2>&1 &
  PEER_PID=$!
  for _ in $(seq 1 300); do grep -q '^listening on' "$ROOT/peer.log" && return 0; sleep 0.1; done
  echo "peer did not start:"; cat "$ROOT/peer.log"; return 1
}
stop_peer() { kill -TERM "$PEER_PID" 2>/dev/null || true; wait "$PEER_PID" 2>/dev/null || true; PEER_PID=""; }

ob_config() {  # STORAGE_LINE
  printf '%s\n' "server: {listen: \"127.0.0.1:0\", io_threads: $IO_THREADS}" \
    'log: {level: info, format: json, access_log: false}' "$1" \
    "stores: [{id: main, webhook_secrets: [\"$SECRET\"]}]"
}
ob_pg_config=$(ob_config "storage: {driver: postgres, postgres: {dsn: \"postgresql://orderbridge@127.0.0.1:$PG_PORT/orderbridge\", pool_size: 8}, writers: 2}")
ob_sqlite_config() { ob_config "storage: {driver: sqlite, sqlite: {path: \"$1/ob.db\"}}"; }

fresh_peer_db() { pgq peers "TRUNCATE woo_orders RESTART IDENTITY"; }  # pg_quiet checkpoints
drop_ob_pg_db() {  # --force: an autovacuum worker may be connected to it
  PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/dropdb" "${PGARGS[@]}" --if-exists --force orderbridge
}
fresh_ob_pg_db() {  # before the daemon starts; it migrates the empty database itself
  drop_ob_pg_db
  "$PG_BIN/createdb" "${PGARGS[@]}" "${DB_OPTS[@]}" orderbridge
}
# Each run's rows are removed once they are counted, and the next run starts when no autovacuum
# worker is busy: otherwise PostgreSQL vacuums the previous receiver's 1 GB of fresh rows during the
# next run (seen: 17 s of VACUUM on the peer's table while orderbridge was measured, and orderbridge's
# tables while the peer was), and that run is charged for it. Autovacuum of a run's own tables during
# it, as in production, would still count. The sync writes back what was written just before (the
# load files and the peer's packages before the first round).
pg_quiet() {
  local busy
  for _ in $(seq 1 240); do
    busy=$(pgq postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
    [ "$busy" = 0 ] && break
    sleep 0.5
  done
  [ "$busy" = 0 ] || echo "NOTE: an autovacuum worker was still busy when this run started"
  pgq postgres "CHECKPOINT"
  sync
}
count_peer() { pgq peers "SELECT count(*) FROM woo_orders"; }
count_ob_pg() { pgq orderbridge "SELECT count(*) FROM entities WHERE kind='order'"; }
count_sqlite() { sqlite3 -cmd ".timeout 5000" "$SQLITE_DB" "SELECT count(*) FROM entities WHERE kind='order'"; }
# Updates are counted as accepted deliveries in the archive (a new version of a stored order).
count_ob_pg_accepted() { pgq orderbridge "SELECT count(*) FROM raw_deliveries WHERE outcome = 'accepted'"; }
count_sqlite_accepted() {
  sqlite3 -cmd ".timeout 5000" "$SQLITE_DB" "SELECT count(*) FROM raw_deliveries WHERE outcome = 'accepted'"
}
settled() {  # $1 = count function; waits until deliveries still in flight have landed
  local prev cur
  prev=$("$1")
  for _ in $(seq 1 40); do
    sleep 0.25
    cur=$("$1")
    [ "$cur" = "$prev" ] && { echo "$cur"; return; }
    prev=$cur
  done
  echo "$cur"
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

ob_extras() {  # what the daemon says about the run (counters include the warm-up)
  local m
  m=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
      "http://127.0.0.1:$DAEMON_PORT/metrics" 2>/dev/null | grep '^orderbridge_webhooks_received_total{' || true)
  [ -n "$m" ] && echo "daemon outcomes incl. warm-up: $(sed -n 's/.*outcome="\([a-z]*\)".*} \([0-9.e+]*\)$/\1=\2/p' <<<"$m" | sort | paste -sd' ')"
  local w
  w=$(grep -cE '"level":"(warn|warning|error|critical)"' "$DAEMON_DIR/log" || true)
  if [ "$w" -gt 0 ]; then echo "daemon log: $w warning/error lines, first: $(grep -m1 -E '"level":"(warn|warning|error|critical)"' "$DAEMON_DIR/log")"; fi
  return 0
}

# run_load KIND(wrk|paced|updates) LABEL URL PID COUNTFN [ORDERSFN] -> prints the tool's RESULT line and the
# committed figures
run_load() {
  local kind=$1 label=$2 url=$3 pid=$4 countfn=$5 warm run before after rss result dur committed cps
  case $kind in
    wrk) load_cmd warm "$url" "$ROOT/warm" "$WARMUP"; load_cmd run "$url" "$ROOT/data" "$DURATION" ;;
    updates)  # the orders first (not counted), then their newer versions
      load_cmd warm "$url" "$ROOT/data" "$(awk -v s="$(secs "$DURATION")" 'BEGIN{print s * 2}')s"
      load_cmd run "$url" "$ROOT/updated" "$DURATION" ;;
    *) load_cmd warm "$url" "$ROOT/warm" "$WARMUP" "$PACED_RATE"; load_cmd run "$url" "$ROOT/data" "$PACED_DURATION" "$PACED_RATE" ;;
  esac
  "${warm[@]}" > "$ROOT/warm.out" 2>&1
  result=$(grep '^RESULT' "$ROOT/warm.out" || true)
  if [ -z "$result" ] || [ "$(field requests "$result")" = "$(field non2xx "$result")" ]; then
    echo "ingest: $label: the warm-up got no 2xx answer at all:"; cat "$ROOT/warm.out"
    [ -n "$DAEMON_DIR" ] && tail -n 5 "$DAEMON_DIR/log"
    return 1
  fi
  before=$(settled "$countfn")
  local ordersfn=${6:-} orders0=0
  [ -z "$ordersfn" ] || orders0=$("$ordersfn")
  local cpu0 pg0 load0 cpu1 pg1 load1 cpu_r cpu_p cpu_l
  # `times` right around the run, so the snapshots' own helper processes do not count as load tool
  cpu0=$(proc_ticks "$pid") pg0=$(pg_backend_ticks)
  children_ticks
  load0=$CHILD_TICKS
  "${run[@]}" > "$ROOT/run.out" 2>&1
  children_ticks
  load1=$CHILD_TICKS
  cpu1=$(proc_ticks "$pid") pg1=$(pg_backend_ticks)
  rss=$(rss_mb "$pid")
  after=$(settled "$countfn")
  if [ -n "$ordersfn" ] && [ "$("$ordersfn")" != "$orders0" ]; then
    echo "WARNING: $(($("$ordersfn") - orders0)) orders were new, not updates: the first phase was too short"
  fi
  result=$(grep '^RESULT' "$ROOT/run.out" || true)
  [ -n "$result" ] || { echo "ingest: $label: no RESULT line:"; cat "$ROOT/run.out"; return 1; }
  dur=$(field duration_s "$result")
  committed=$((after - before))
  # Rows counted once in-flight deliveries have landed: up to CONNS more than the tool's own count,
  # as requests still in flight when it stops are committed too.
  cps=$(awk -v c="$committed" -v d="$dur" 'BEGIN{printf "%.1f", c/d}')
  echo "$result"
  echo "committed=$committed committed_per_s=$cps rss_mb=$rss"
  # Every answer 2xx must be stored: fewer rows than such answers is a lost acknowledged webhook
  # (unless ids wrapped: repeats are answered 200 and add no row).
  local answered non2xx acked
  answered=$(field requests "$result") non2xx=$(field non2xx "$result")
  if ! [[ $answered =~ ^[0-9]+$ && $non2xx =~ ^[0-9]+$ ]]; then
    echo "WARNING: $label: cannot check the stored count (requests=$answered non2xx=$non2xx)"
  elif [ "$(field id_wraps "$result")" = 0 ]; then
    acked=$((answered - non2xx))
    if [ "$committed" -lt "$acked" ]; then
      echo "LOST: $label stored $committed webhooks of $acked answered 2xx"
      echo "$label $((acked - committed)) of $acked" >> "$ROOT/lost"
    fi
  fi
  # CPU time per committed webhook: steadier than throughput on a machine whose speed varies.
  local cpu
  cpu=$(awk -v c="$committed" -v r=$((cpu1 - cpu0)) -v p=$((pg1 - pg0)) -v l=$((load1 - load0)) -v hz="$CLK_TCK" \
    'BEGIN { if (c < 1) c = 1; printf "%.0f %.0f %.0f", r*1e6/hz/c, p*1e6/hz/c, l*1e6/hz/c }')
  read -r cpu_r cpu_p cpu_l <<<"$cpu"
  echo "cpu_us_per_webhook receiver=$cpu_r postgres=$cpu_p load_tool=$cpu_l"
  [ "$(field id_wraps "$result")" = 0 ] || echo "WARNING: order ids wrapped (repeats): raise COUNT"
  if [ "$kind" = paced ] && awk -v r="$(field rps "$result")" -v o="$PACED_RATE" 'BEGIN{exit !(r < 0.95 * o)}'; then
    echo "NOTE: answered $(field rps "$result")/s of $PACED_RATE/s offered: overloaded, the latencies are mostly queueing"
  fi
  echo "$label $cps $(field p50_ms "$result") $(field p99_ms "$result") $cpu_r $cpu_p $cpu_l" >> "$ROOT/summary"
}

# load_cmd ARRAY URL DATADIR DURATION [RATE]: sets ARRAY to the load tool's command line, closed loop
# for DURATION (wrk-style: 20s, 2m), or paced at RATE/s.
load_cmd() {
  local -n cmd=$1
  local url=$2 data=$3 dur=$4 rate=${5:-}
  if [ "$LOAD_TOOL" = loadgen ]; then
    cmd=("$ROOT/bin/loadgen" "$url" "$data" --conns "$CONNS" --duration "$(secs "$dur")" ${rate:+--rate "$rate"})
  elif [ -n "$rate" ]; then
    cmd=(python3 "$BENCH/paced_load.py" "$url" "$data" --rate "$rate" --duration "$(secs "$dur")" --conns "$CONNS")
  else
    cmd=(wrk -t2 -c"$CONNS" -d"$dur" -s "$LUA" "$url" -- "$data" distinct 2)
  fi
}

# CPU time in clock ticks: of one process; of the private cluster's backends (long-lived pooled
# connections of the receiver under test); of this shell's finished children (the load tool).
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
pg_backend_ticks() {  # live children of the postmaster, plus those it reaped (its cutime + cstime)
  local pm
  pm=$(head -n1 "$ROOT/pg/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  { for p in $(pgrep -P "$pm"); do proc_ticks "$p"; done
    awk '{print $16 + $17}' "/proc/$pm/stat" 2>/dev/null; } | awk '{s += $1} END {print s + 0}'
}
children_ticks() {  # sets CHILD_TICKS; `times` runs in this shell (a subshell would see none of its children)
  times > "$ROOT/times.out"  # "0m1.50s 0m0.20s" for the shell, then the same for its finished children
  CHILD_TICKS=$(tail -n1 "$ROOT/times.out" | awk -v hz="$CLK_TCK" '{
    n = split($1 " " $2, t, " "); s = 0
    for (i = 1; i <= n; i++) { split(t[i], ms, "m"); sub("s", "", ms[2]); s += ms[1] * 60 + ms[2] }
    printf "%d\n", s * hz }')
}

sfx() { case $1 in paced) echo _paced ;; updates) echo _updates ;; esac; }
# Updates count accepted deliveries (run_load's ORDERSFN checks that no order was new).
pick_count() { if [ "$1" = updates ]; then echo "$2_accepted $2"; else echo "$2"; fi; }
peer_run() {  # KIND
  fresh_peer_db
  pg_quiet
  start_peer
  run_load "$1" "peer$(sfx "$1")" "http://127.0.0.1:$PEER_PORT/webhook/woo" "$PEER_PID" count_peer
  stop_peer
  fresh_peer_db
}
ob_pg_run() {  # KIND
  fresh_ob_pg_db
  pg_quiet
  start_daemon "$ob_pg_config"
  # shellcheck disable=SC2046  # COUNTFN [ORDERSFN]
  run_load "$1" "orderbridge_pg$(sfx "$1")" "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$DAEMON_PID" \
    $(pick_count "$1" count_ob_pg)
  ob_extras
  stop_daemon; rm -rf "$DAEMON_DIR"; DAEMON_PID="" DAEMON_DIR=""
  drop_ob_pg_db
}
ob_sqlite_run() {  # KIND
  local dir
  dir=$(mktemp -d "$ROOT/sqlite.XXXX")
  SQLITE_DB=$dir/ob.db
  pg_quiet  # the cluster idle, its dirty pages written
  start_daemon "$(ob_sqlite_config "$dir")"
  # shellcheck disable=SC2046  # COUNTFN [ORDERSFN]
  run_load "$1" "orderbridge_sqlite$(sfx "$1")" "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$DAEMON_PID" \
    $(pick_count "$1" count_sqlite)
  ob_extras
  stop_daemon; rm -rf "$DAEMON_DIR" "$dir"; DAEMON_PID="" DAEMON_DIR=""
}

# ---- preflight: one signed webhook to the binary on SQLite must come back 202 -------------------------
post_once() {  # URL BODYFILE SIGFILE -> HTTP status
  python3 - "$@" <<'PY'
import sys, urllib.request, urllib.error
url, body, sig = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3]).read().strip()
req = urllib.request.Request(url, data=body, method="POST", headers={
    "Content-Type": "application/json", "X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": sig,
    "X-WC-Webhook-Source": "https://shop.example.com/", "X-WC-Webhook-Delivery-ID": "preflight"})
try:
    print(urllib.request.urlopen(req, timeout=10).status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
}
pf_dir=$(mktemp -d "$ROOT/preflight.XXXX")
start_daemon "$(ob_sqlite_config "$pf_dir")" || { echo "ingest: $ORIG_BIN does not start with this configuration" >&2; exit 1; }
pf_status=$(post_once "http://127.0.0.1:$DAEMON_PORT/webhooks/woocommerce/main" "$ROOT/data/fixed.body" "$ROOT/data/fixed.sig")
stop_daemon; rm -rf "$DAEMON_DIR" "$pf_dir"; DAEMON_PID="" DAEMON_DIR=""
if [ "$pf_status" != 202 ]; then
  echo "ingest: $ORIG_BIN answered $pf_status to a signed order.created webhook (expected 202): is it older than the webhook endpoint?" >&2
  exit 1
fi

# ---- runs ----------------------------------------------------------------------------------------------
echo "== ingest: signed order.created webhooks, distinct order ids, body $BODY_BYTES bytes, 202 after commit"
machine_line
echo "versions: $("$BIN" version), node $(node --version), $("$PG_BIN/postgres" --version), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
echo "postgres: private cluster on 127.0.0.1:$PG_PORT, fsync on, shared_buffers 128MB, databases' locale ${DB_LOCALE:-C}; orderbridge io_threads $IO_THREADS (0: one per core)," \
     "pg pool_size 8, writers 2; peer pg pool 10"
if [ "$LOAD_TOOL" = loadgen ]; then load_line="bench/loadgen.cpp, $CONNS connections, 2 threads, $DURATION"
else load_line="wrk -t2 -c$CONNS -d$DURATION with woo.lua; paced: paced_load.py"; fi
echo "load: $load_line (warm-up $WARMUP on other ids, not counted); committed_per_s = rows committed / duration_s"
start_s=$SECONDS
if [ "$CALIBRATE" = 1 ]; then
  # What this machine and cluster do with the simplest durable write, so figures can be compared
  # across machines: pgbench, one-row INSERT per transaction, as many clients as the runs' connections.
  "$PG_BIN/createdb" "${PGARGS[@]}" calibration
  pgq calibration "CREATE TABLE t (id bigserial PRIMARY KEY, v int NOT NULL)"
  echo "INSERT INTO t (v) VALUES (1);" > "$ROOT/calibration.sql"
  cal=""
  for mode in simple prepared; do
    tps=$("$PG_BIN/pgbench" "${PGARGS[@]}" -n -M "$mode" -c "$CONNS" -j 2 -T "$CAL_SECONDS" -f "$ROOT/calibration.sql" \
          calibration 2>&1 | sed -n 's/^tps = \([0-9.]*\).*/\1/p' || true)
    cal+=" $mode=${tps:-failed}"
  done
  PGOPTIONS="-c client_min_messages=warning" "$PG_BIN/dropdb" "${PGARGS[@]}" calibration
  echo "calibration: pgbench one-row INSERT transactions/s, $CONNS clients, 2 threads, ${CAL_SECONDS}s each:$cal"
  echo "calibration$cal" > "$ROOT/calibration"
fi
for r in $(seq 1 "$ROUNDS"); do
  echo "-- round $r/$ROUNDS: peer (fastify + pg, POST /webhook/woo)"
  peer_run wrk
  echo "-- round $r/$ROUNDS: orderbridge_pg"
  ob_pg_run wrk
done
echo "-- orderbridge_sqlite"
ob_sqlite_run wrk
if [ "$UPDATES" = 1 ]; then
  echo "-- updates: orderbridge_pg (the same ids modified an hour later; created first for twice as long, not counted)"
  ob_pg_run updates
  echo "-- updates: orderbridge_sqlite"
  ob_sqlite_run updates
fi
echo "-- paced $PACED_RATE/s for $PACED_DURATION over $CONNS connections ($LOAD_TOOL; latency from each request's scheduled send time)"
if [ "$PACED_PEER" = 1 ]; then echo "-- paced: peer"; peer_run paced; fi
echo "-- paced: orderbridge_pg"
ob_pg_run paced
echo "-- paced: orderbridge_sqlite"
ob_sqlite_run paced

echo "== summary (mean committed_per_s over runs; p50/p99 ms as reported by the load tool; CPU time per committed webhook of the receiver, its PostgreSQL backends and the load tool)"
awk '
  { n[$1]++; c[$1]+=$2; p50[$1]+=$3; p99[$1]+=$4; cr[$1]+=$5; cp[$1]+=$6; cl[$1]+=$7
    if (!($1 in seen)) { seen[$1]=1; order[++k]=$1 } }
  END {
    for (i=1; i<=k; i++) { l=order[i]; printf "%s runs=%d committed_per_s=%.1f p50_ms=%.2f p99_ms=%.2f cpu_us_per_webhook receiver=%.0f postgres=%.0f load_tool=%.0f\n", l, n[l], c[l]/n[l], p50[l]/n[l], p99[l]/n[l], cr[l]/n[l], cp[l]/n[l], cl[l]/n[l] }
    if (n["peer"] && n["orderbridge_pg"] && c["peer"] > 0)
      printf "ratio orderbridge_pg/peer = %.2f\n", (c["orderbridge_pg"]/n["orderbridge_pg"]) / (c["peer"]/n["peer"])
  }' "$ROOT/summary"
[ -f "$ROOT/calibration" ] && cat "$ROOT/calibration"
echo "elapsed_s=$((SECONDS - start_s))"
if [ -s "$ROOT/lost" ]; then
  echo "LOST acknowledged webhooks (run, lost of answered 2xx):"; cat "$ROOT/lost"
  exit 3
fi
