#!/usr/bin/env bash
# Starts and stops a private RabbitMQ on 127.0.0.1 for the demo and the tests: Debian's
# rabbitmq-server, no systemd, state in a folder of its own, every port on loopback.
#
# usage: scripts/broker.sh start|stop|kill|status|ctl [ARGS...]
#        scripts/broker.sh cluster start|stop|status [N]
#   DMON_BROKER_PORT  AMQP port (default 5672); the Erlang distribution port is this + 20000
#   cluster: N nodes (default 3) on ports PORT .. PORT+N-1, state in DMON_BROKER_CLUSTER_DIR
#            (default /tmp/dmon-cluster-PORT)/nodeI, joined into one RabbitMQ cluster; one node
#            alone is handled as above with DMON_BROKER_PORT=PORT+I DMON_BROKER_DIR=.../nodeI
#            (e.g. `kill` it mid-test)
#   DMON_BROKER_DIR   state folder (default /tmp/dmon-broker-PORT)
#   DMON_BROKER_TLS_PORT, DMON_BROKER_TLS_CERTS  also listen with TLS (1.2 and 1.3 only) on
#                     127.0.0.1:TLS_PORT, with ca.pem, server.pem and server.key from that folder
set -euo pipefail

port=${DMON_BROKER_PORT:-5672}
dir=${DMON_BROKER_DIR:-/tmp/dmon-broker-$port}
node="dmon$port@localhost"

broker_env() {
  mkdir -p "$dir/mnesia" "$dir/log"
  [ -f "$dir/enabled_plugins" ] || echo "[]." >"$dir/enabled_plugins"
  # The nodes of a cluster share one Erlang cookie (each has its own $HOME).
  if [ -n "${DMON_BROKER_COOKIE:-}" ] && [ ! -f "$dir/.erlang.cookie" ]; then
    (umask 077 && printf '%s' "$DMON_BROKER_COOKIE" >"$dir/.erlang.cookie")
    chmod 400 "$dir/.erlang.cookie"
  fi
  # The Erlang cookie lives in $HOME: the server and rabbitmqctl must share it.
  export HOME="$dir"
  export RABBITMQ_NODENAME="$node"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT=$((port + 20000))
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  # The Erlang VM writes erl_crash.dump into its working folder unless told otherwise: keep it
  # with the broker state, never in the source tree.
  export ERL_CRASH_DUMP="$dir/erl_crash.dump"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # Messages larger than dmon's consumer takes (1 MiB by default) are refused by the broker
  # already, far below RabbitMQ's 128 MiB default.
  {
    echo "max_message_size = 16777216"
    if [ -n "${DMON_BROKER_TLS_PORT:-}" ]; then
      local certs=${DMON_BROKER_TLS_CERTS:?DMON_BROKER_TLS_CERTS names the certificate folder}
      echo "listeners.ssl.1 = 127.0.0.1:$DMON_BROKER_TLS_PORT"
      echo "ssl_options.cacertfile = $certs/ca.pem"
      echo "ssl_options.certfile = $certs/server.pem"
      echo "ssl_options.keyfile = $certs/server.key"
      echo "ssl_options.verify = verify_none"
      echo "ssl_options.fail_if_no_peer_cert = false"
      echo "ssl_options.versions.1 = tlsv1.3"
      echo "ssl_options.versions.2 = tlsv1.2"
    fi
  } >"$dir/rabbitmq.conf"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

# The /usr/sbin wrapper would switch user (and so read another Erlang cookie).
ctl() { /usr/lib/rabbitmq/bin/rabbitmqctl -n "$node" "$@"; }

answers() { ctl -q status >/dev/null 2>&1; }

# The broker's processes (beam, and its helpers), found by the node name in their environment:
# a broker whose state folder was deleted can no longer be reached by rabbitmqctl.
node_pids() {
  local p
  for p in /proc/[0-9]*; do
    if { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qx "RABBITMQ_NODENAME=$node"; then echo "${p#/proc/}"; fi
  done
}

port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }

kill_node() {
  local pids
  pids=$(node_pids)
  [ -n "$pids" ] || return 0
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 40; i++)); do
    pids=$(node_pids)
    [ -z "$pids" ] && return 0
    sleep 0.25
  done
  kill -KILL $pids 2>/dev/null || true
}

start() {
  if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
    echo "[broker] rabbitmq-server is not installed: run scripts/setup.sh" >&2
    exit 1
  fi
  broker_env
  if answers; then
    echo "[broker] already running on 127.0.0.1:$port (state in $dir)"
    return
  fi
  if port_taken; then
    if [ -n "$(node_pids)" ]; then
      echo "[broker] a stale broker $node holds port $port (its state folder is gone): stopping it"
      kill_node
    else
      echo "[broker] error: port $port on 127.0.0.1 is taken by another program; set DMON_BROKER_PORT" >&2
      exit 1
    fi
  fi
  echo "[broker] starting RabbitMQ on 127.0.0.1:$port (state in $dir)"
  # /usr/sbin/rabbitmq-server would switch to the rabbitmq user; this one runs as we are.
  /usr/lib/rabbitmq/bin/rabbitmq-server -detached >"$dir/log/start.out" 2>&1
  for ((i = 1; i <= 120; i++)); do
    if answers && ctl -q await_startup >/dev/null 2>&1; then
      echo "[broker] ready after $((i / 2))s"
      return
    fi
    sleep 0.5
    if ((i % 10 == 0)); then echo "[broker] waiting for the broker (${i}/120)"; fi
  done
  echo "[broker] error: no answer from the broker on 127.0.0.1:$port after 60s; its log:" >&2
  tail -n 30 "$dir"/log/*.log >&2 || true
  exit 1
}

stop() {
  broker_env
  if answers; then
    echo "[broker] stopping the broker on 127.0.0.1:$port"
    timeout 60 /usr/lib/rabbitmq/bin/rabbitmqctl -n "$node" -q stop >/dev/null 2>&1 || true
  fi
  # Whatever rabbitmqctl could not reach (or left behind) is stopped by signal.
  kill_node
  rm -f "$dir/rabbitmq.pid"
}

# As a crash or the OOM killer would: no clean shutdown, nothing flushed that was not already.
crash() {
  broker_env
  local pids
  pids=$(node_pids)
  [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
  for ((i = 0; i < 40; i++)); do
    [ -z "$(node_pids)" ] && break
    sleep 0.25
  done
  rm -f "$dir/rabbitmq.pid"
  echo "[broker] killed (SIGKILL) the broker on 127.0.0.1:$port"
}

# N nodes on PORT .. PORT+N-1 joined to the first: started together, then joined one by one
# (stop_app, join_cluster, start_app); a node that is already a member is left as it is.
cluster() {
  local action=${1:-} count=${2:-3} base=$port
  local cdir=${DMON_BROKER_CLUSTER_DIR:-/tmp/dmon-cluster-$base}
  local self
  self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
  on_node() {  # on_node I COMMAND...
    local i=$1
    shift
    DMON_BROKER_COOKIE=$(cat "$cdir/cookie") DMON_BROKER_PORT=$((base + i)) \
      DMON_BROKER_DIR="$cdir/node$i" DMON_BROKER_TLS_PORT= bash "$self" "$@"
  }
  case "$action" in
    start)
      mkdir -p "$cdir"
      if [ ! -f "$cdir/cookie" ]; then
        (umask 077 && head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$cdir/cookie")
      fi
      echo "[broker] starting a cluster of $count nodes on 127.0.0.1:$base..$((base + count - 1)) (state in $cdir)"
      local pids=() failed=0
      for ((i = 0; i < count; i++)); do
        on_node "$i" start | sed -u "s/^/[node$i] /" &
        pids+=($!)
      done
      for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
      [ "$failed" -eq 0 ] || { echo "[broker] error: a node did not start" >&2; exit 1; }
      for ((i = 1; i < count; i++)); do
        if on_node "$i" ctl -q cluster_status 2>/dev/null | grep -q "dmon$base@localhost"; then
          continue
        fi
        echo "[broker] joining node $i (127.0.0.1:$((base + i))) to dmon$base@localhost"
        on_node "$i" ctl -q stop_app >/dev/null
        on_node "$i" ctl -q join_cluster "dmon$base@localhost" >/dev/null
        on_node "$i" ctl -q start_app >/dev/null
        on_node "$i" ctl -q await_startup >/dev/null
      done
      echo "[broker] cluster ready: $(on_node 0 ctl -q cluster_status --formatter json 2>/dev/null | grep -o '"running_nodes":\[[^]]*\]' | grep -o "dmon[0-9]*@localhost" | wc -l) of $count nodes running"
      ;;
    stop)
      [ -f "$cdir/cookie" ] || { echo "[broker] no cluster in $cdir"; return 0; }
      for ((i = count - 1; i >= 0; i--)); do on_node "$i" stop | sed -u "s/^/[node$i] /"; done
      ;;
    status) on_node 0 ctl cluster_status ;;
    *) echo "usage: scripts/broker.sh cluster start|stop|status [N]" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  cluster) shift; cluster "$@" ;;
  start) start ;;
  stop) stop ;;
  kill) crash ;;
  status) broker_env; if answers; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 1; fi ;;
  ctl) shift; broker_env; ctl "$@" ;;
  *) echo "usage: scripts/broker.sh start|stop|kill|status|ctl [ARGS...] | cluster start|stop|status [N]" >&2; exit 2 ;;
esac
