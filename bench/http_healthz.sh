#!/usr/bin/env bash
# GET /healthz with wrk on the same machine: the HTTP server's own ceiling.
set -euo pipefail
cd "$(dirname "$0")"
source ./common.sh
DURATION=${DURATION:-15s}
CONNS=${CONNS:-64}
start_daemon '
server: {listen: "127.0.0.1:0", io_threads: "${IO_THREADS:-1}"}
log: {level: info, format: json, access_log: false}
'
trap stop_daemon EXIT
wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$DAEMON_PORT/healthz" > /dev/null  # warm-up
echo "== GET /healthz, wrk -t${WRK_THREADS:-2} -c$CONNS -d$DURATION"
machine_line
wrk -t"${WRK_THREADS:-2}" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$DAEMON_PORT/healthz" | grep -E 'Requests/sec|Latency|50%|90%|99%|requests in|Socket errors|Non-2xx'
echo "rss_mb_after=$(rss_mb "$DAEMON_PID")"
