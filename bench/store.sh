#!/usr/bin/env bash
# The time-series store's figures, each against a baseline measured in the same run:
#   ingest: the bare SQLite row insert of schema 1 and a bare rowid append (the limits), the
#           store's writer without a broker, and end to end through RabbitMQ into the shipped
#           controller (1,000 series and 100,000 series, 100 samples a message);
#   size:   bytes per sample on disk after sealing: a recorded agent's /proc readings replayed
#           for 1,000 hosts at regular 1 s intervals, the same with the recorded timestamp
#           jitter, and random values;
#   reads:  24 h of one series at 1 s, the same with --step 1m, latest over 1,000 hosts,
#           against the same reads of a schema 1 row store.
# DMON_BENCH_PROFILE=1 also samples the controller with perf during the 1,000-series drain.
#
# usage: bench/store.sh [MESSAGES]     (default 20000 messages = 2,000,000 samples a case)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
messages=${1:-20000}
samples=$((messages * 100))
hosts=${DMON_BENCH_HOSTS:-1000}
points=${DMON_BENCH_POINTS:-512}
port=5698
work=$(mktemp -d /tmp/dmon-store-bench.XXXXXX)
url="amqp://guest@127.0.0.1:$port/"
password_file=$(mktemp /tmp/dmon-bench-password.XXXXXX)  # mode 0600; the configs read it
echo guest >"$password_file"
export DMON_AMQP_PASSWORD_FILE=$password_file
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker" DMON_CONTROL="$work/control.sock"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work" "$password_file"
}
trap cleanup EXIT
step() { echo "[bench] $(date +%H:%M:%S) $*" >&2; }

bash scripts/setup.sh >/dev/null
bash scripts/build.sh build >/dev/null
ingest=build/bin/dmon_bench_ingest
store=build/bin/dmon_bench_store
recording="$work/agent.lp"
gzip -dc bench/data/agent-1s.lp.gz >"$recording"

step "limits: bare SQLite inserts, $samples rows"
row_insert=$($ingest raw-sql "$work/rows.db" "$messages")
rowid_append=$($ingest raw-rowid "$work/rowid.db" "$messages")
step "the store's writer without a broker (head appends and seals)"
writer_1k=$($store writer "$work/writer-1k.db" 1000 $((samples / 1000)))
writer_100k=$($store writer "$work/writer-100k.db" 100000 $((samples / 100000)))

bash scripts/broker.sh start >/dev/null
# end_to_end SERIES: publishes the messages, then times the shipped controller draining them.
end_to_end() {
  local series=$1 db="$work/controller-$1.db"
  # The controller declares its queue on first start; until then the broker drops messages.
  DMON_AMQP_URL=$url DMON_DB="$work/declare.db" build/bin/dmon run --config config/controller.yaml 2>"$work/declare.log" &
  local declarer=$!
  for ((i = 0; i < 100; i++)); do grep -q "consuming dmon.controller" "$work/declare.log" && break; sleep 0.1; done
  kill -TERM $declarer
  wait $declarer || true
  step "publishing $messages messages of 100 samples over $series series"
  $ingest publish "$url" "$messages" "$series" >"$work/published-$series"
  step "the controller drains them"
  local start end stored=0
  start=$(date +%s.%N)
  DMON_AMQP_URL=$url DMON_DB=$db build/bin/dmon run --config config/controller.yaml 2>"$work/controller-$series.log" &
  local controller=$!
  local broker_pids broker_cpu
  broker_pids=$(pgrep -f beam.smp || true)
  broker_cpu=$(cpu_seconds $broker_pids)
  if [ "${DMON_BENCH_PROFILE:-}" = 1 ] && [ "$series" = 1000 ]; then
    (sleep 1 && perf record -F 499 -g -p $controller -o "$work/perf.data" -- sleep 3 >/dev/null 2>&1) &
  fi
  for ((i = 0; i < 3000; i++)); do
    stored=$(stored_samples "$db")
    [ "$stored" -ge "$samples" ] && break
    sleep 0.1
  done
  end=$(date +%s.%N)
  # Where the CPU went while draining: the broker and the controller (2 cores in all).
  awk -v b0="$broker_cpu" -v b1="$(cpu_seconds $broker_pids)" -v c="$(cpu_seconds $controller)" \
    -v a="$start" -v e="$end" 'BEGIN {printf "%.1f s wall: broker %.1f CPU-s, controller %.1f CPU-s\n", e - a, b1 - b0, c}' \
    >"$work/cpu-$series"
  kill -TERM $controller
  wait $controller || true
  if [ "$stored" -lt "$samples" ]; then
    echo "[bench] error: only $stored of $samples samples stored in 300 s" >&2
    tail -5 "$work/controller-$series.log" >&2
    exit 1
  fi
  awk -v n="$samples" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}'
}
e2e_1k=$(end_to_end 1000)
if [ "${DMON_BENCH_PROFILE:-}" = 1 ]; then
  wait
  perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9.]+%' | head -25 | sed -E 's/ +- +- *$//; s/ +$//' | cut -c1-140 >"$work/profile.txt" || true
fi
e2e_100k=$(end_to_end 100000)
bash scripts/broker.sh stop >/dev/null

step "bytes per sample: $hosts hosts x $points points of the recorded agent"
read -r agent_bps agent_samples agent_bytes < <($store shape "$work/agent.db" agent "$hosts" "$points" "$recording")
agent_free=$(sqlite3 "$work/agent.db" "SELECT freelist_count * page_size FROM pragma_freelist_count, pragma_page_size")
read -r jitter_bps _ _ < <($store shape "$work/jitter.db" jitter "$hosts" "$points" "$recording")
read -r random_bps _ _ < <($store shape "$work/random.db" random 1000 5000 "$recording")
# The same agent data in the row store of schema 1, as the baseline (a tenth of it: rows).
rows_bps=$(build/bin/dmon_bench_ingest raw-sql "$work/rows-size.db" 10000 >/dev/null &&
  sqlite3 "$work/rows-size.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null &&
  awk -v b="$(stat -c %s "$work/rows-size.db")" 'BEGIN {printf "%.2f", b / 1000000}')

step "reads: 24 h of one series at 1 s, stepped, latest over $hosts hosts"
$store day "$work/agent.db" "$work/rows-read.db"
read -r q_ms q_rows step_ms step_rows latest_ms latest_rows latest_series < <($store read "$work/agent.db" "$work/rows-read.db")

echo
echo "time-series store, $(nproc) cores, broker on the same machine; $samples samples an ingest case"
printf '%-58s %12s samples/s\n' "bare SQLite row insert, (series, ts) key (schema 1)" "$row_insert"
printf '%-58s %12s samples/s\n' "bare SQLite rowid append (the limit)" "$rowid_append"
printf '%-58s %12s samples/s\n' "store writer, no broker, 1,000 series" "$writer_1k"
printf '%-58s %12s samples/s\n' "store writer, no broker, 100,000 series" "$writer_100k"
printf '%-58s %12s samples/s\n' "publisher into the broker, with confirms, 1,000 series" "$(cat "$work/published-1000")"
printf '%-58s %12s samples/s\n' "end to end: broker -> controller -> store, 1,000 series" "$e2e_1k"
printf '%-58s %12s samples/s\n' "end to end: broker -> controller -> store, 100,000 series" "$e2e_100k"
awk -v a="$e2e_1k" -v b="$e2e_100k" -v r="$row_insert" -v w="$writer_1k" 'BEGIN {
  printf "end to end / bare row insert: %.2f (1,000 series), %.2f (100,000 series); target >= 3\n", a / r, b / r
  printf "end to end / writer without a broker (1,000 series): %.2f\n", a / w }'
echo "draining 1,000 series: $(cat "$work/cpu-1000")"
echo "draining 100,000 series: $(cat "$work/cpu-100000")"
echo
printf '%-58s %8s bytes/sample\n' "agent-shaped, regular 1 s ($agent_samples samples)" "$agent_bps"
awk -v b="$agent_bytes" -v f="$agent_free" -v n="$agent_samples" 'BEGIN {
  printf "%-58s %8.2f bytes/sample\n", "  of which in use (without the free pages the head left)", (b - f) / n }'
printf '%-58s %8s bytes/sample\n' "agent-shaped, with the recorded timestamp jitter" "$jitter_bps"
printf '%-58s %8s bytes/sample\n' "random values in [0, 1)" "$random_bps"
printf '%-58s %8s bytes/sample\n' "schema 1 row store (baseline)" "$rows_bps"
awk -v a="$agent_bps" -v r="$rows_bps" 'BEGIN {printf "row store / chunks, agent-shaped: %.1fx smaller; target <= 3 bytes/sample\n", r / a}'
echo
printf '%-58s %8s ms  (row store %s ms)\n' "query 24 h of one series at 1 s (86,400 points)" "$q_ms" "$q_rows"
printf '%-58s %8s ms  (row store %s ms)\n' "the same with --step 1m (1,440 buckets)" "$step_ms" "$step_rows"
printf '%-58s %8s ms  (row store %s ms)\n' "latest over $hosts hosts ($latest_series series)" "$latest_ms" "$latest_rows"
echo "targets: query < 50 ms, step < 10 ms, latest < 100 ms"
if [ -s "$work/profile.txt" ]; then
  echo
  echo "controller profile during the 1,000-series drain (perf, self time by library and symbol):"
  cat "$work/profile.txt"
fi
