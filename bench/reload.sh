#!/usr/bin/env bash
# Hot reload: 10 collectors at a 100 ms interval; 50 reloads through `dmonctl reload`, each
# changing one collector's options. Reports the time from `dmonctl reload` to the new set
# active (dmonctl returns when it is), median and max, and the missing or doubled rounds of the
# 9 unchanged collectors (must be zero). Baseline in the same run: a full restart (stop the
# process, start it again, until it answers), which is what a host without hot reload does.
#
# usage: bench/reload.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh build -DDMON_BUILD_TESTS=ON >/dev/null
work=$(mktemp -d /tmp/dmon-reload.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
control="$work/control.sock"

write_config() {  # write_config GREETING_METRIC
  {
    echo "node: bench"
    echo "self_metrics: false"
    echo "control: $control"
    echo "plugin_paths: [$PWD/build/test-plugins]"
    echo "collectors:"
    for i in 1 2 3 4 5 6 7 8 9; do
      printf '  - plugin: test_counter\n    name: c%s\n    interval: 100ms\n    metric: bench.c%s\n' "$i" "$i"
    done
    printf '  - plugin: test_counter\n    name: changing\n    interval: 100ms\n    metric: %s\n' "$1"
    echo "sinks:"
    echo "  - plugin: stdout"
    echo "    path: $work/out.lp"
    echo "    flush_interval: 200ms"
  } >"$work/bench.yaml"
}
now_ms() { date +%s%N | awk '{printf "%.3f", $1 / 1e6}'; }
wait_for_control() { for ((i = 0; i < 200; i++)); do build/bin/dmonctl status --control "$control" >/dev/null 2>&1 && return; sleep 0.01; done; }

write_config bench.a
build/bin/dmon run --config "$work/bench.yaml" 2>"$work/host.log" &
host=$!
wait_for_control
sleep 0.5
: >"$work/reload.ms"
for ((r = 1; r <= 50; r++)); do
  if ((r % 2)); then write_config bench.b; else write_config bench.a; fi
  start=$(now_ms)
  build/bin/dmonctl reload --control "$control" >"$work/last-reload.txt" || { cat "$work/last-reload.txt"; exit 1; }
  awk -v a="$start" -v b="$(now_ms)" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/reload.ms"
  sleep 0.1
  ((r % 10 == 0)) && echo "[bench] $r/50 reloads"
done
sleep 0.5
kill -TERM $host
wait $host || true
mv "$work/out.lp" "$work/reload.lp"  # the restarts below write their own rounds elsewhere

: >"$work/restart.ms"
for ((r = 1; r <= 5; r++)); do
  start=$(now_ms)
  build/bin/dmon run --config "$work/bench.yaml" 2>>"$work/host.log" &
  pid=$!
  wait_for_control
  kill -TERM $pid
  wait $pid || true
  awk -v a="$start" -v b="$(now_ms)" 'BEGIN {printf "%.3f\n", b - a}' >>"$work/restart.ms"
done

stats() { sort -n "$1" | awk '{v[NR] = $1} END {printf "median %.1f ms, max %.1f ms", v[int((NR + 1) / 2)], v[NR]}'; }
# Unchanged collectors: rounds 1..N each exactly once in the first run's part of the file.
problems=0
for i in 1 2 3 4 5 6 7 8 9; do
  missing_or_doubled=$(grep "^bench.c$i,host=bench counter=" "$work/reload.lp" | awk '{split($2, f, "="); print f[2]}' | sort -n |
    awk 'BEGIN {expect = 1; bad = 0} {if ($1 + 0 != expect) {bad++; expect = $1 + 1} else expect++} END {print bad}')
  problems=$((problems + missing_or_doubled))
done
rounds=$(grep -c "^bench.c1,host=bench" "$work/reload.lp")

echo
echo "hot reload, 10 collectors at 100 ms, 50 reloads changing one collector each"
echo "dmonctl reload -> new set active: $(stats "$work/reload.ms")"
echo "baseline, full restart (stop, start, answering): $(stats "$work/restart.ms")"
awk -v r="$(sort -n "$work/reload.ms" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')" \
    -v s="$(sort -n "$work/restart.ms" | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')" \
    'BEGIN {printf "median reload / median restart: %.2f\n", r / s}'
echo "unchanged collectors: $rounds rounds each; missing or doubled rounds in the 9 of them: $problems"
