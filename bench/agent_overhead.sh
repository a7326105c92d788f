#!/usr/bin/env bash
# Agent overhead: `dmon run` with the four proc collectors at a 1 s interval, against collectd
# 5.12 (Debian's collectd-core) doing the same four areas each second, measured in the same run.
# Reports CPU seconds used (user + system) and peak RSS (VmHWM) of each.
#
# usage: bench/agent_overhead.sh [SECONDS]     (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
duration=${1:-60}
work=$(mktemp -d /tmp/dmon-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

bash scripts/setup.sh >/dev/null
install_collectd
[ -x build/bin/dmon ] || bash scripts/build.sh build >/dev/null

cat >"$work/dmon.yaml" <<YAML
node: bench
interval: 1s
log_level: warn
collectors:
  - plugin: proc_cpu
  - plugin: proc_mem
  - plugin: proc_disk
  - plugin: proc_net
sinks:
  - plugin: stdout
    path: /dev/null
YAML

write_collectd_conf "$work/collectd.conf" "$work"

# measure PID -> "cpu_seconds peak_rss_kb"
measure() {
  local pid=$1 ticks hz rss
  hz=$(getconf CLK_TCK)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  echo "$(awk -v t="$ticks" -v hz="$hz" 'BEGIN {printf "%.3f", t / hz}') $rss"
}

run_one() {  # run_one NAME COMMAND...  -> prints "cpu rss"
  local name=$1
  shift
  "$@" >/dev/null 2>"$work/$name.err" &
  local pid=$!
  echo "[bench] $name running for ${duration}s (pid $pid)" >&2
  for ((i = 1; i <= duration; i++)); do
    sleep 1
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "[bench] $name exited early:" >&2
      cat "$work/$name.err" >&2
      return 1
    fi
    if ((i % 10 == 0)); then echo "[bench]   ${i}s" >&2; fi
  done
  local figures
  figures=$(measure "$pid")
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$figures"
}

read -r dmon_cpu dmon_rss < <(run_one dmon build/bin/dmon run --config "$work/dmon.yaml")
collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)
if [ -x "$collectd_bin" ]; then
  read -r cd_cpu cd_rss < <(run_one collectd "$collectd_bin" -f -C "$work/collectd.conf")
else
  cd_cpu=""
  cd_rss=""
fi

echo
echo "agent overhead, ${duration}s at 1 s interval, four areas (cpu, memory, disk, network)"
printf '%-10s %12s %14s\n' "agent" "cpu seconds" "peak RSS (MB)"
printf "%-10s %12s %14.1f\n" "dmon" "$dmon_cpu" "$(awk -v k="$dmon_rss" "BEGIN {print k / 1024}")"
if [ -n "$cd_cpu" ]; then
  printf "%-10s %12s %14.1f\n" "collectd" "$cd_cpu" "$(awk -v k="$cd_rss" "BEGIN {print k / 1024}")"
  echo
  awk -v a="$dmon_cpu" -v b="$cd_cpu" 'BEGIN { if (b > 0) printf "dmon / collectd CPU: %.2f\n", a / b; else print "dmon / collectd CPU: collectd used no measurable CPU" }'
  awk -v a="$dmon_rss" -v b="$cd_rss" 'BEGIN { printf "dmon / collectd RSS: %.2f\n", a / b }'
else
  echo "collectd not available: no baseline in this run"
fi
