#!/usr/bin/env bash
# Controller ingest: messages of 100 samples over 1000 series wait in the broker; the shipped
# controller config (amqp_consume -> sqlite_store) drains them; reports samples stored per
# second, against the raw SQLite rate for the same rows into the same schema, measured in the
# same run. Also reports one agent's traffic (messages per second).
#
# usage: bench/controller_ingest.sh [BATCHES]     (default 5000 = 500,000 samples)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
batches=${1:-5000}
samples=$((batches * 100))
port=5698
work=$(mktemp -d /tmp/dmon-ingest.XXXXXX)
url="amqp://guest@127.0.0.1:$port/"
password_file=$(mktemp /tmp/dmon-bench-password.XXXXXX)  # mode 0600; the configs read it
echo guest >"$password_file"
export DMON_AMQP_PASSWORD_FILE=$password_file
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker" DMON_CONTROL="$work/control.sock"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh >/dev/null
bash scripts/build.sh build >/dev/null
tool=build/bin/dmon_bench_ingest

echo "[bench] raw SQLite, no broker: $samples samples, 20000 per transaction"
raw_sql=$($tool raw-sql "$work/raw-sql.db" "$batches")
raw_writer=$($tool raw "$work/raw.db" "$batches")

bash scripts/broker.sh start
db="$work/controller.db"
# The controller declares its queue (with its dead-letter settings) on first start; until a
# queue is bound, the broker returns what is published and publishers keep it.
DMON_AMQP_URL=$url DMON_DB=$db build/bin/dmon run --config config/controller.yaml 2>"$work/declare.log" &
declarer=$!
for ((i = 0; i < 100; i++)); do grep -q "consuming dmon.controller" "$work/declare.log" && break; sleep 0.1; done
kill -TERM $declarer
wait $declarer || true
rm -f "$db"*
echo "[bench] publishing $batches messages of 100 samples"
published=$($tool publish "$url" "$batches")

echo "[bench] controller draining the queue"
start=$(date +%s.%N)
DMON_AMQP_URL=$url DMON_DB=$db build/bin/dmon run --config config/controller.yaml 2>"$work/controller.log" &
controller=$!
stored=0
for ((i = 0; i < 1200; i++)); do
  sleep 0.1
  stored=$(stored_samples "$db")
  [ "$stored" -ge "$samples" ] && break
done
end=$(date +%s.%N)
kill -TERM $controller
wait $controller || true
if [ "$stored" -lt "$samples" ]; then
  echo "[bench] error: only $stored of $samples samples stored in 120 s" >&2
  tail -5 "$work/controller.log" >&2
  exit 1
fi
ingest=$(awk -v n="$samples" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')

echo "[bench] agent traffic: one agent for 10 s"
$tool declare "$url" bench.agent "metrics.bench-agent.#"
DMON_SPOOL="$work/spool" DMON_AMQP_URL=$url build/bin/dmon run --config config/agent.yaml --node bench-agent 2>"$work/agent.log" &
agent=$!
sleep 10
kill -TERM $agent
wait $agent || true
messages=$($tool depth "$url" bench.agent)

echo
echo "controller ingest, $samples samples in messages of 100 over 1000 series (2 cores, broker on the same machine)"
printf '%-44s %12s samples/s\n' "raw SQLite, bare INSERT loop (limit)" "$raw_sql"
printf '%-44s %12s samples/s\n' "raw SQLite, the store's writer, no broker" "$raw_writer"
printf '%-44s %12s samples/s\n' "publisher into the broker (with confirms)" "$published"
printf '%-44s %12s samples/s\n' "end to end: broker -> controller -> SQLite" "$ingest"
awk -v e="$ingest" -v r="$raw_sql" 'BEGIN {printf "end to end / raw SQLite: %.2f\n", e / r}'
awk -v m="$messages" 'BEGIN {printf "one agent (4 collectors at 1 s): %d messages in 10 s = %.1f messages/s\n", m, m / 10}'
