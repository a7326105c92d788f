#!/usr/bin/env bash
# The Prometheus sinks' figures (bench/README.md, "## prometheus"), with Debian's Prometheus on
# loopback, all measured in the same run:
#  1. scrape: an agent with the four proc collectors and 10,000 more series at 1 s, scraped by
#     Prometheus every second: its CPU against the same agent with the stdout sink (/dev/null);
#     the time a scrape takes (Prometheus' scrape_duration_seconds, and curl) at 1,000, 10,000
#     and 100,000 series.
#  2. remote write: a controller (amqp_consume -> prometheus_remote_write) drains 500,000 samples
#     over 1,000 series from the broker into Prometheus: samples/s appended by Prometheus,
#     against Prometheus' own scrape ingest of 1,000 series (series / scrape duration).
#
#   bench/prometheus.sh [SECONDS]      (default 30: how long each agent of part 1 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
duration=${1:-30}
work=$(mktemp -d /tmp/dmon-bench-prometheus.XXXXXX)
prom_port=19490
scrape_port=19491
broker_port=5694
url="amqp://guest@127.0.0.1:$broker_port/"
password_file="$work/amqp.password"
echo guest >"$password_file"
chmod 600 "$password_file"
export DMON_BROKER_PORT=$broker_port DMON_BROKER_DIR="$work/broker"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh --tests >/dev/null
bash scripts/build.sh build >/dev/null
command -v curl >/dev/null || { echo "[bench] installing curl"; apt-get install -y -qq curl >/dev/null; }

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# promql EXPR: the first value of an instant query ("" if none)
promql() {
  curl -s "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
    sed -n 's/.*"value":\[[0-9.]*,"\([^"]*\)"\].*/\1/p'
}
# start_prometheus NAME: a fresh Prometheus scraping 127.0.0.1:$scrape_port every second
start_prometheus() {
  cat >"$work/$1.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: dmon
    static_configs:
      - targets: ['127.0.0.1:$scrape_port']
YAML
  prometheus --config.file="$work/$1.yml" --storage.tsdb.path="$work/$1-data" \
    --web.listen-address=127.0.0.1:$prom_port --web.enable-remote-write-receiver \
    >"$work/$1.log" 2>&1 &
  prometheus_pid=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "[bench] Prometheus did not start:" >&2
  tail -5 "$work/$1.log" >&2
  exit 1
}
# appended: samples Prometheus has appended to its head so far (from its own /metrics)
appended_total() {
  curl -s "http://127.0.0.1:$prom_port/metrics" |
    awk '/^prometheus_tsdb_head_samples_appended_total/ {s += $2} END {printf "%.0f", s}'
}
stop_prometheus() { kill -TERM "$prometheus_pid"; wait "$prometheus_pid" 2>/dev/null || true; }

# agent_config FILE SINK SERIES [bare]: bare: bench_series alone, no proc collectors, no
# self-metrics (exactly SERIES series)
agent_config() {
  local sink proc="  - plugin: proc_cpu
  - plugin: proc_mem
  - plugin: proc_disk
  - plugin: proc_net" self=true
  if [ "$2" = prometheus ]; then
    sink="  - plugin: prometheus
    listen: 127.0.0.1:$scrape_port"
  else
    sink="  - plugin: stdout
    path: /dev/null"
  fi
  if [ "${4:-}" = bare ]; then proc=""; self=false; fi
  cat >"$1" <<YAML
node: bench
interval: 1s
log_level: warn
self_metrics: $self
control: $work/agent.sock
plugin_paths: [$PWD/build/lib/dmon, $PWD/build/bench-plugins]
collectors:
$proc
  - plugin: bench_series
    series: $3
sinks:
$sink
    batch_size: 200000
YAML
}

# run_agent SINK SERIES SECONDS -> "cpu_seconds"
run_agent() {
  agent_config "$work/agent-$1.yaml" "$1" "$2"
  build/bin/dmon run --config "$work/agent-$1.yaml" 2>"$work/agent-$1.log" &
  local pid=$!
  sleep "$3"
  local cpu
  cpu=$(cpu_seconds "$pid")
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$cpu"
}

# curl_scrape_ms: median of 10 scrapes, in ms, and the body's size
curl_scrape() {
  for _ in $(seq 10); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$scrape_port/metrics"
  done | median | awk '{printf "%.1f", $1 * 1000}'
}

echo "[bench] part 1: an agent with 10,000 series more, ${duration} s with each sink"
start_prometheus scrape
cpu_prometheus=$(run_agent prometheus 10000 "$duration")
scrape_avg=$(promql 'avg_over_time(scrape_duration_seconds{job="dmon"}[10m])')
scraped=$(promql 'max_over_time(scrape_samples_scraped{job="dmon"}[10m])')
stop_prometheus
cpu_stdout=$(run_agent stdout 10000 "$duration")

echo "[bench] scrape time by series count (curl, median of 10)"
declare -A scrape_ms bytes
for series in 1000 10000 100000; do
  agent_config "$work/agent-size.yaml" prometheus "$series"
  build/bin/dmon run --config "$work/agent-size.yaml" 2>"$work/agent-size.log" &
  pid=$!
  for _ in $(seq 100); do
    count=$(curl -s "http://127.0.0.1:$scrape_port/metrics" 2>/dev/null | grep -c '^bench_series' || true)
    [ "$count" -ge "$series" ] && break
    sleep 0.2
  done
  scrape_ms[$series]=$(curl_scrape)
  bytes[$series]=$(curl -s "http://127.0.0.1:$scrape_port/metrics" | wc -c)
  kill -TERM "$pid"
  wait "$pid" || true
done

echo "[bench] part 2: remote write from a controller, 500,000 samples over 1,000 series"
bash scripts/broker.sh start >/dev/null
export DMON_AMQP_PASSWORD_FILE=$password_file
cat >"$work/controller.yaml" <<YAML
node: controller
interval: 5s
log_level: warn
self_metrics: false   # its samples would be newer than the backlog's: Prometheus refuses older ones
control: $work/controller.sock
plugin_paths: [$PWD/build/lib/dmon]
collectors:
  - plugin: amqp_consume
    url: $url
    password_file: $password_file
    interval: 100ms
    queue: dmon.controller
    prefetch: 2000
sinks:
  - plugin: prometheus_remote_write
    url: http://127.0.0.1:$prom_port/api/v1/write
    batch_size: 10000
    flush_interval: 200ms
YAML
# The controller declares its queue; then the backlog is published and the controller stopped.
build/bin/dmon run --config "$work/controller.yaml" 2>"$work/declare.log" &
declarer=$!
for _ in $(seq 100); do grep -q "consuming" "$work/declare.log" 2>/dev/null && break; sleep 0.1; done
sleep 1
kill -TERM $declarer
wait $declarer || true
build/bin/dmon_bench_ingest publish "$url" 5000 >/dev/null
start_prometheus remote
before=$(appended_total)
start=$(date +%s.%N)
build/bin/dmon run --config "$work/controller.yaml" 2>"$work/controller.log" &
controller=$!
appended=0
for _ in $(seq 1200); do
  sleep 0.1
  now=$(appended_total)
  appended=$(awk -v a="${now:-0}" -v b="${before:-0}" 'BEGIN {printf "%.0f", a - b}')
  [ "$appended" -ge 500000 ] && break
done
end=$(date +%s.%N)
kill -TERM $controller
wait $controller || true
if [ "$appended" -lt 500000 ]; then
  echo "[bench] error: Prometheus appended $appended of 500000 samples in 120 s" >&2
  grep -v "longer than its interval" "$work/controller.log" | tail -5 >&2
  exit 1
fi
remote_rate=$(awk -v n=500000 -v a="$start" -v b="$end" 'BEGIN {printf "%.0f", n / (b - a)}')
stop_prometheus

# Prometheus' own scrape of 1,000 series (the same count): series / scrape duration.
start_prometheus scrape1k
agent_config "$work/agent-1k.yaml" prometheus 1000 bare
build/bin/dmon run --config "$work/agent-1k.yaml" 2>"$work/agent-1k.log" &
agent=$!
sleep 15
scrape_1k=$(promql 'avg_over_time(scrape_duration_seconds{job="dmon"}[10m])')
samples_1k=$(promql 'max_over_time(scrape_samples_scraped{job="dmon"}[10m])')
kill -TERM $agent
wait $agent || true
stop_prometheus
scrape_rate=$(awk -v n="$samples_1k" -v d="$scrape_1k" 'BEGIN {printf "%.0f", n / d}')

echo
echo "prometheus sink: an agent with proc_cpu/mem/disk/net + 10,000 series at 1 s, ${duration} s, scraped every 1 s (2 cores)"
printf '%-52s %8.2f s CPU\n' "agent with the stdout sink (/dev/null), baseline" "$cpu_stdout"
printf '%-52s %8.2f s CPU\n' "agent with the prometheus sink, scraped" "$cpu_prometheus"
awk -v p="$cpu_prometheus" -v s="$cpu_stdout" 'BEGIN {printf "prometheus / stdout: %.2f\n", p / s}'
awk -v d="$scrape_avg" -v n="$scraped" 'BEGIN {printf "Prometheus scrape_duration_seconds, %d samples: %.1f ms average\n", n, d * 1000}'
for series in 1000 10000 100000; do
  awk -v s="$series" -v ms="${scrape_ms[$series]}" -v b="${bytes[$series]}" \
    'BEGIN {printf "scrape of %6d series (+ the agent'"'"'s own): %7.1f ms, %5.1f MB, %.2f us a series\n", s, ms, b / 1e6, ms * 1000 / s}'
done
echo
echo "remote write: 500,000 samples over 1,000 series, broker -> controller -> Prometheus (2 cores, all on one machine)"
printf '%-52s %10s samples/s\n' "controller -> prometheus_remote_write -> Prometheus" "$remote_rate"
printf '%-52s %10s samples/s\n' "Prometheus scraping 1,000 series (series / scrape duration)" "$scrape_rate"
awk -v r="$remote_rate" -v s="$scrape_rate" 'BEGIN {printf "remote write / scrape ingest: %.2f\n", r / s}'
