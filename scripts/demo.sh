#!/usr/bin/env bash
# The demo: installs what is missing, builds, starts a local RabbitMQ, a controller storing
# into SQLite, two agents (web-1, web-2) on this machine and `dmonctl serve` (the page, on
# http://127.0.0.1:8080/), and shows `dmonctl top`, the live view of what the controller
# stored, until Ctrl-C. Then stops everything it started.
#   DMON_BROKER_PORT   broker port (default 5672)
#   DMON_HTTP_LISTEN   where the page is served (default 127.0.0.1:8080)
#   DMON_DEMO_SECONDS  stop by itself after this many seconds (default: run until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build

port=${DMON_BROKER_PORT:-5672}
state=.dmon/demo
mkdir -p "$state"
rm -f "$state"/metrics.db*
export DMON_BROKER_PORT=$port
export DMON_AMQP_URL="amqp://guest@127.0.0.1:$port/"
# The password in a file only we can read, as the shipped configs expect (not in the URL).
(umask 077 && echo guest >"$state/amqp.password")
export DMON_AMQP_PASSWORD_FILE="$PWD/$state/amqp.password"
export DMON_DB="$state/metrics.db"

pids=()
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "[demo] stopping agents and controller"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash scripts/broker.sh stop
  echo "[demo] logs are in $state/; the database stays at $DMON_DB"
}
trap cleanup EXIT INT TERM

bash scripts/broker.sh start
echo "[demo] controller: build/bin/dmon run --config config/controller.yaml   (log: $state/controller.log)"
build/bin/dmon run --config config/controller.yaml >"$state/controller.log" 2>&1 &
pids+=($!)
for node in web-1 web-2; do
  echo "[demo] agent $node: build/bin/dmon run --config config/agent.yaml --node $node   (log: $state/$node.log)"
  DMON_SPOOL="$state/spool-$node" build/bin/dmon run --config config/agent.yaml --node "$node" >"$state/$node.log" 2>&1 &
  pids+=($!)
done
listen=${DMON_HTTP_LISTEN:-127.0.0.1:8080}
build/bin/dmonctl serve --db "$DMON_DB" --listen "$listen" >"$state/serve.log" 2>&1 &
pids+=($!)
sleep 2
if ! grep -q "^dmonctl serve: http" "$state/serve.log"; then
  echo "[demo] dmonctl serve did not start (is $listen taken? set DMON_HTTP_LISTEN):"
  sed 's/^/[demo]   /' "$state/serve.log"
else
  echo "[demo] the page: $(grep -o 'http://[^ ]*' "$state/serve.log")   (dmonctl serve, log: $state/serve.log)"
fi
echo "[demo] live view: build/bin/dmonctl top --db $DMON_DB   (Ctrl-C to stop the demo)"
sleep 3
if [ -n "${DMON_DEMO_SECONDS:-}" ]; then
  timeout --foreground "$DMON_DEMO_SECONDS" build/bin/dmonctl top --db "$DMON_DB" || true
else
  build/bin/dmonctl top --db "$DMON_DB" || true
fi
