#!/usr/bin/env bash
# Starts and stops a private PostgreSQL 15 (Debian's) for the tests, the bench and anyone trying
# postgres_store: no systemd, state in a folder of its own, TCP on 127.0.0.1 only, the Unix
# socket inside the state folder. Logins over TCP need a password (scram-sha-256); the
# superuser `postgres` has a random one, written to $DMON_PG_DIR/superuser.password (mode 600).
#
# usage: scripts/postgres.sh start|stop|kill|status|psql [ARGS...]|url [USER [DB]]
#   DMON_PG_PORT  port on 127.0.0.1 (default 5432)
#   DMON_PG_DIR   state folder (default /tmp/dmon-postgres-PORT)
# As root, the server runs as Debian's `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

port=${DMON_PG_PORT:-5432}
dir=${DMON_PG_DIR:-/tmp/dmon-postgres-$port}
bin=/usr/lib/postgresql/15/bin
data="$dir/data"

# Runs a PostgreSQL program as the user that owns the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

answers() { as_owner "$bin/pg_isready" -q -h "$dir" -p "$port" >/dev/null 2>&1; }

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

init() {
  [ -f "$data/PG_VERSION" ] && return
  echo "[postgres] creating a cluster in $data"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -x "$dir"; then
      echo "[postgres] error: the postgres user cannot reach $dir (a parent folder is private); use a state folder it can reach (DMON_PG_DIR)" >&2
      exit 1
    fi
  fi
  chmod 700 "$dir"
  local password
  password=$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 24)
  (umask 077 && printf '%s\n' "$password" >"$dir/superuser.password")
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir/superuser.password"; fi
  as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$dir/superuser.password" \
    --auth-local=peer --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    cat "$dir/initdb.log" >&2
    exit 1
  }
  # Local (socket) logins as the cluster's owner are how this script administers it; over TCP
  # every user needs its password, and only loopback is listened on.
  cat >"$data/pg_hba.conf" <<EOF
local all postgres peer map=owner
host  all all 127.0.0.1/32 scram-sha-256
host  all all ::1/128      scram-sha-256
EOF
  cat >"$data/pg_ident.conf" <<EOF
owner $(id -un) postgres
owner postgres postgres
EOF
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$data/pg_hba.conf" "$data/pg_ident.conf"; fi
}

start() {
  if [ ! -x "$bin/postgres" ]; then
    echo "[postgres] PostgreSQL 15 is not installed: run scripts/setup.sh --tests" >&2
    exit 1
  fi
  init
  if answers; then
    echo "[postgres] already running on 127.0.0.1:$port (state in $dir)"
    return
  fi
  if port_taken; then
    echo "[postgres] error: port $port on 127.0.0.1 is taken by another program; set DMON_PG_PORT" >&2
    exit 1
  fi
  echo "[postgres] starting PostgreSQL on 127.0.0.1:$port (state in $dir)"
  # fsync stays on: the tests restart and kill the server and count on committed batches
  # surviving it.
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 -o \
    "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=100 -c shared_buffers=128MB" \
    start >/dev/null || {
    echo "[postgres] error: the server did not start; its log:" >&2
    tail -n 30 "$dir/server.log" >&2
    exit 1
  }
  echo "[postgres] ready"
}

stop() {
  [ -f "$data/PG_VERSION" ] || return 0
  if answers || [ -f "$data/postmaster.pid" ]; then
    echo "[postgres] stopping PostgreSQL on 127.0.0.1:$port"
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
}

# As a crash would: the postmaster and its children SIGKILLed; the next start recovers from WAL.
crash() {
  local pid
  pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
  fi
  echo "[postgres] killed (SIGKILL) PostgreSQL on 127.0.0.1:$port"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) if answers; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 1; fi ;;
  psql) shift; as_owner "$bin/psql" -h "$dir" -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@" ;;
  url) echo "postgresql://${2:-postgres}@127.0.0.1:$port/${3:-postgres}" ;;
  *) echo "usage: scripts/postgres.sh start|stop|kill|status|psql [ARGS...]|url [USER [DB]]" >&2; exit 2 ;;
esac
