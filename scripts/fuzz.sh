#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan) and runs each for a fixed time on the
# seed corpus in tests/fuzz/corpus. A crash fails the run and leaves the input that caused it
# in the work folder (add it to the corpus and a regression test once fixed).
#   usage: scripts/fuzz.sh [SECONDS_EACH]     (default 60; CI runs exactly this)
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${DMON_FUZZ_SECONDS:-60}}
build=build-fuzz
harnesses=(line_protocol round_trip config control_request chunk api prometheus fleet_command)

CC=clang CXX=clang++ DMON_TARGETS="${harnesses[*]/#/fuzz_}" bash scripts/build.sh "$build" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDMON_SANITIZE=address,undefined -DDMON_FUZZ=ON \
  -DDMON_BUILD_TESTS=OFF -DDMON_BUILD_BENCH=OFF -DDMON_LEAN_RUNTIME=OFF || exit 1

work=$(mktemp -d /tmp/dmon-fuzz.XXXXXX)
# One harness a core at a time: each is single-threaded, so on 2 cores the 8 take 4 slots of
# SECONDS_EACH, not 8.
jobs=$(nproc 2>/dev/null || echo 1)
fuzz_one() {
  local name=$1
  # The seed corpus stays as it is in the tree; what the fuzzer finds goes to the work folder.
  mkdir -p "$work/$name"
  cp tests/fuzz/corpus/"$name"/* "$work/$name/" 2>/dev/null || true
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/bin/fuzz_$name" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=1024 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$work/$name-" "$work/$name" \
    >"$work/$name.log" 2>&1
  echo $? >"$work/$name.status"
}
echo "[fuzz] ${#harnesses[@]} harnesses, ${seconds}s each, $jobs at a time"
for name in "${harnesses[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  echo "[fuzz] $name: started"
  fuzz_one "$name" &
done
wait
failed=0
for name in "${harnesses[@]}"; do
  if [ "$(cat "$work/$name.status" 2>/dev/null)" = 0 ]; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')
    echo "[fuzz] $name: ok, ${runs:-?} executions in ${seconds}s, corpus $(ls "$work/$name" | wc -l) inputs"
  else
    failed=$((failed + 1))
    echo "[fuzz] $name: FAILED; the input is in $work (log: $work/$name.log)"
    tail -n 40 "$work/$name.log"
  fi
done
[ "$failed" -eq 0 ] && rm -rf "$work"
exit "$failed"
