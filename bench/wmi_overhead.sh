#!/usr/bin/env bash
# WMI overhead under Wine: median time of one wmi_mem collect() over 100 rounds with its one
# kept connection, against a new connection per round (same run), and the working set with the
# four WMI plugins loaded. Wine's WMI is not Windows' WMI: read the ratio, not the microseconds.
#
# usage: bench/wmi_overhead.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-windows.sh build-windows >/dev/null
cmake -S . -B build-windows -DDMON_BUILD_BENCH=ON >/dev/null
ninja -C build-windows dmon_bench_wmi >/dev/null
export WINEDEBUG=-all WINEPREFIX=${WINEPREFIX:-/tmp/dmon-wine-bench}
/usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1 || true
/usr/lib/wine/wine64 build-windows/bin/dmon_bench_wmi.exe
