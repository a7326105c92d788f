#!/usr/bin/env bash
# The disk spool's cost and speed, each figure against a baseline measured in the same run:
#  1. overhead: `dmon run` with the four proc collectors at 1 s, spool off vs on (the same
#     sink, stdout to /dev/null, so the difference is the spool), and collectd 5.12 doing the
#     same four areas: CPU seconds, peak RSS, bytes written per round (/proc/PID/io);
#  2. storage: the two designs considered (segment files + CRC32C, an SQLite WAL table), the
#     same records at the same durability (a sync per append);
#  3. replay: 10 agents come back after an hour-long broker outage, each with a spool of 3600
#     rounds of 100 samples; how fast they drain into the controller (broker -> amqp_consume ->
#     SQLite), against the controller's ingest rate for messages already in the broker.
#
# usage: bench/spool.sh [SECONDS] [ROUNDS]     (defaults: 60 s overhead run, 3600 rounds/agent)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
duration=${1:-60}
rounds=${2:-3600}
agents=10
port=5697
work=$(mktemp -d /tmp/dmon-bench-spool.XXXXXX)
url="amqp://guest@127.0.0.1:$port/"
password_file=$(mktemp /tmp/dmon-bench-password.XXXXXX)  # mode 0600; the configs read it
echo guest >"$password_file"
export DMON_AMQP_PASSWORD_FILE=$password_file
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh >/dev/null
install_collectd
bash scripts/build.sh build >/dev/null
tool=build/bin/dmon_bench_spool
ingest=build/bin/dmon_bench_ingest

# ---- 1. overhead ------------------------------------------------------------------------------
agent_config() {  # agent_config FILE [SPOOL]
  cat >"$1" <<YAML
node: bench
interval: 1s
log_level: warn
control: $work/$(basename "$1").sock
collectors:
  - plugin: proc_cpu
  - plugin: proc_mem
  - plugin: proc_disk
  - plugin: proc_net
sinks:
  - plugin: stdout
    path: /dev/null
    flush_interval: 200ms
    batch_size: 10000
YAML
  if [ -n "${2:-}" ]; then printf '    spool: %s\n' "$2" >>"$1"; fi
}
agent_config "$work/off.yaml"
agent_config "$work/on.yaml" "$work/agent-spool"
write_collectd_conf "$work/collectd.conf" "$work"

# figures PID -> "cpu_seconds peak_rss_kb write_bytes wchar"; CPU from the scheduler's
# nanosecond run time of every thread (/proc/PID/task/*/schedstat): the 10 ms ticks of
# /proc/PID/stat cannot tell 30 ms from 50 ms.
figures() {
  local pid=$1
  echo "$(cat /proc/"$pid"/task/*/schedstat | awk '{ns += $1} END {printf "%.4f", ns / 1e9}')" \
    "$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" \
    "$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")" \
    "$(awk '/^wchar/ {print $2}' "/proc/$pid/io")"
}

echo "[bench] 1/3 overhead: dmon (spool off), dmon (spool on) and collectd side by side for ${duration}s"
build/bin/dmon run --config "$work/off.yaml" >/dev/null 2>"$work/off.err" &
off=$!
build/bin/dmon run --config "$work/on.yaml" >/dev/null 2>"$work/on.err" &
on=$!
collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)
cd_pid=""
if [ -x "$collectd_bin" ]; then
  "$collectd_bin" -f -C "$work/collectd.conf" >/dev/null 2>"$work/collectd.err" &
  cd_pid=$!
fi
for ((i = 1; i <= duration; i++)); do
  sleep 1
  for pid in $off $on; do
    kill -0 "$pid" 2>/dev/null || { echo "[bench] dmon exited early:" >&2; cat "$work"/*.err >&2; exit 1; }
  done
  if ((i % 10 == 0)); then echo "[bench]   ${i}s"; fi
done
read -r off_cpu off_rss off_wb off_wc < <(figures $off)
read -r on_cpu on_rss on_wb on_wc < <(figures $on)
if [ -n "$cd_pid" ]; then read -r cd_cpu cd_rss _ _ < <(figures "$cd_pid"); fi
kill -TERM $off $on ${cd_pid:+$cd_pid}
wait $off $on ${cd_pid:+$cd_pid} 2>/dev/null || true

# ---- 2. storage ------------------------------------------------------------------------------
echo "[bench] 2/3 storage: 2000 records of 10 KiB, a sync per append, each design"
storage=$($tool storage "$work/storage" 2000 10240)

# ---- 3. replay -------------------------------------------------------------------------------
samples_per_round=100
total=$((agents * rounds * samples_per_round))
echo "[bench] 3/3 replay: filling $agents spools with $rounds rounds of $samples_per_round samples"
for ((a = 0; a < agents; a++)); do
  $tool fill "$work/replay-$a" "replay-$a" "$rounds" "$samples_per_round" >/dev/null
done
spool_bytes=$(du -sb "$work"/replay-0 | cut -f1)
bash scripts/broker.sh start >/dev/null
db="$work/controller.db"
count() {
  sqlite3 "$db" "SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id WHERE series.name = '$1'" 2>/dev/null || echo 0
}
# Declare the controller's queue, then publish the baseline with the controller stopped.
DMON_CONTROL="$work/c0.sock" DMON_AMQP_URL=$url DMON_DB=$db build/bin/dmon run --config config/controller.yaml 2>"$work/declare.log" &
declarer=$!
for ((i = 0; i < 100; i++)); do grep -q "consuming dmon.controller" "$work/declare.log" && break; sleep 0.1; done
kill -TERM $declarer
wait $declarer || true
rm -f "$db"*
baseline_batches=$((total / 100 / 4))
echo "[bench]   baseline: $baseline_batches messages of 100 samples already in the broker"
$ingest publish "$url" "$baseline_batches" >/dev/null
start=$(date +%s.%N)
DMON_CONTROL="$work/c1.sock" DMON_AMQP_URL=$url DMON_DB=$db build/bin/dmon run --config config/controller.yaml 2>"$work/controller.log" &
controller=$!
for ((i = 0; i < 3000; i++)); do
  sleep 0.1
  [ "$(count bench.value)" -ge $((baseline_batches * 100)) ] && break
done
end=$(date +%s.%N)
baseline_rate=$(awk -v n=$((baseline_batches * 100)) -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')

echo "[bench]   replay: $agents agents start with full spools ($total samples)"
start=$(date +%s.%N)
pids=()
for ((a = 0; a < agents; a++)); do
  cat >"$work/replay-$a.yaml" <<YAML
node: replay-$a
interval: 1s
log_level: warn
self_metrics: false
control: $work/replay-$a.sock
sinks:
  - plugin: amqp_publish
    url: $url
    spool: $work/replay-$a
YAML
  build/bin/dmon run --config "$work/replay-$a.yaml" >/dev/null 2>"$work/replay-$a.err" &
  pids+=($!)
done
stored=0
for ((i = 0; i < 6000; i++)); do
  sleep 0.2
  stored=$(count bench.replay)
  [ "$stored" -ge "$total" ] && break
  if ((i % 25 == 0)); then echo "[bench]   $stored of $total stored"; fi
done
end=$(date +%s.%N)
kill -TERM "${pids[@]}" $controller 2>/dev/null || true
wait "${pids[@]}" $controller 2>/dev/null || true
if [ "$stored" -lt "$total" ]; then
  echo "[bench] error: only $stored of $total replayed samples stored" >&2
  tail -3 "$work"/replay-0.err "$work/controller.log" >&2
  exit 1
fi
replay_rate=$(awk -v n="$total" -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')

echo
echo "1. agent overhead, ${duration}s, four proc collectors at 1 s (stdout sink to /dev/null)"
printf '%-20s %12s %14s %22s\n' "agent" "cpu seconds" "peak RSS (MB)" "disk written / round"
per_round() { awk -v b="$1" -v d="$duration" 'BEGIN {printf "%.0f B", b / d}'; }
printf '%-20s %12s %14.1f %22s\n' "dmon, spool off" "$off_cpu" "$(awk -v k="$off_rss" 'BEGIN {print k / 1024}')" "$(per_round "$off_wb")"
printf '%-20s %12s %14.1f %22s\n' "dmon, spool on" "$on_cpu" "$(awk -v k="$on_rss" 'BEGIN {print k / 1024}')" "$(per_round "$on_wb")"
if [ -n "$cd_pid" ]; then
  printf '%-20s %12s %14.1f\n' "collectd 5.12" "$cd_cpu" "$(awk -v k="$cd_rss" 'BEGIN {print k / 1024}')"
fi
awk -v a="$on_cpu" -v b="$off_cpu" 'BEGIN {if (b > 0) printf "spool on / off CPU: %.2f (target <= 1.20)\n", a / b}'
awk -v a="$on_rss" -v b="$off_rss" 'BEGIN {printf "spool on - off peak RSS: %+.2f MB (target <= 1 MB)\n", (a - b) / 1024}'
echo "bytes written by write() per round, spool on - off: $(awk -v a="$on_wc" -v b="$off_wc" -v d="$duration" 'BEGIN {printf "%.0f", (a - b) / d}') B"
if [ -n "$cd_pid" ]; then
  awk -v a="$on_cpu" -v b="$cd_cpu" 'BEGIN {if (b > 0) printf "dmon with spool / collectd CPU: %.2f (target < 1)\n", a / b}'
fi
echo
echo "2. spool storage, 2000 records of 10 KiB, a sync per append"
echo "$storage"
echo
echo "3. replay after an outage: $agents agents x $rounds rounds x $samples_per_round samples = $total samples (spool of one agent: $((spool_bytes / 1048576)) MiB)"
printf '%-48s %12s samples/s\n' "controller ingest, messages already in the broker" "$baseline_rate"
printf '%-48s %12s samples/s\n' "spools drained through the broker into SQLite" "$replay_rate"
awk -v a="$replay_rate" -v b="$baseline_rate" 'BEGIN {printf "replay / ingest: %.2f (target >= 0.5)\n", a / b}'
