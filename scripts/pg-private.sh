# Sourced helper: a private PostgreSQL cluster in a directory of its own, on its own port, with
# trust auth for the role "orderbridge" (used by scripts/test-services.sh and bench/ingest.sh).
#   pg_private_start DATA_DIR SOCKET_DIR PORT LOG   -> sets PG_BIN and PG_AS (the user prefix)
#   pg_private_stop DATA_DIR
pg_private_find_bin() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]
}

pg_private_start() {
  local data=$1 sockets=$2 port=$3 log=$4
  pg_private_find_bin || { echo "pg-private: no PostgreSQL server found (scripts/install-deps.sh installs it)" >&2; return 1; }
  PG_AS=()
  mkdir -p "$data" "$sockets"
  # PostgreSQL refuses to run as root: run it as the postgres user then.
  if [ "$(id -u)" -eq 0 ]; then PG_AS=(runuser -u postgres --); chown postgres "$data" "$sockets"; fi
  "${PG_AS[@]}" "$PG_BIN/initdb" -D "$data" -U orderbridge --auth=trust -E UTF8 >/dev/null
  cat >> "$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockets'
fsync = on
max_connections = 200
shared_buffers = 128MB
CONF
  "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w start >/dev/null
}

pg_private_stop() {
  local data=$1
  if [ -n "${PG_BIN:-}" ] && [ -f "$data/postmaster.pid" ]; then
    "${PG_AS[@]}" "$PG_BIN/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
  fi
}
