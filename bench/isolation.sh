#!/usr/bin/env bash
# What `isolate: true` costs (issue 16), measured against the same collector in process in the
# same run:
#  1. per-round latency and CPU per sample of bench_series with 1, 100 and 10,000 samples a
#     round, in process and isolated, alternating round by round (dmon_bench_isolation);
#  2. resident memory of an agent (proc_cpu, proc_mem, proc_net at 1 s, stdout sink) with its
#     collectors in process, then isolated: the host's RSS and each worker's.
#
# usage: bench/isolation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build -DDMON_BUILD_TESTS=ON >/dev/null
work=$(mktemp -d /tmp/dmon-isolation.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== latency and CPU per sample (build/bin/dmon_bench_isolation)"
for run in "1 20000" "100 10000" "10000 300"; do
  # shellcheck disable=SC2086
  build/bin/dmon_bench_isolation "$PWD/build/bin/dmon" "$PWD/build/bench-plugins" $run
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
agent() {  # agent ISOLATE: an agent's usual collectors, then its RSS once it has settled
  local isolate=$1
  {
    echo "node: bench"
    echo "interval: 1s"
    echo "self_metrics: false"
    echo "control: $work/control.sock"
    echo "collectors:"
    for plugin in proc_cpu proc_mem proc_net; do
      printf '  - plugin: %s\n    isolate: %s\n' "$plugin" "$isolate"
    done
    echo "sinks:"
    echo "  - plugin: stdout"
    echo "    path: $work/out.lp"
  } >"$work/agent.yaml"
  build/bin/dmon run --config "$work/agent.yaml" 2>"$work/agent.log" &
  local host=$!
  sleep 5
  local host_kb workers_kb=0 count=0
  host_kb=$(rss_kb $host)
  for child in $(pgrep -P $host || true); do
    workers_kb=$((workers_kb + $(rss_kb "$child")))
    count=$((count + 1))
  done
  kill -TERM $host
  wait $host || true
  echo "isolate=$isolate host_rss_kb=$host_kb workers=$count workers_rss_kb=$workers_kb" \
    "total_kb=$((host_kb + workers_kb))"
}
echo
echo "== resident memory of an agent with 3 collectors at 1 s"
agent false
agent true
