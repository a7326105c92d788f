#!/usr/bin/env bash
# dmonctl serve's figures (bench/README.md, "## http"): the overview over 1,000 hosts, a host
# page's data for 24 h at 1 s resolution (time and bytes on the wire), requests/s with 50
# clients; baseline: dmonctl top --once and dmonctl query for the same data, in the same run.
#   bench/http.sh [BUILD_DIR]      (default build; DMON_BENCH_RUNS=5 timings per figure)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${DMON_BENCH_RUNS:-5}
state=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
command -v curl >/dev/null || { echo "[bench] installing curl"; apt-get install -y -qq curl >/dev/null; }
bash scripts/build.sh "$build" >/dev/null

db=$state/metrics.db
echo "[bench] store: 1,000 hosts x 15 min at 10 s, and big-1: 24 h at 1 s"
"$build/bin/dmon_fleet_store" --db "$db" --hosts 1000 --duration 15m --interval 10s
"$build/bin/dmon_fleet_store" --db "$db" --hosts 1 --prefix big- --duration 24h --interval 1s
"$build/bin/dmonctl" stats --db "$db"

"$build/bin/dmonctl" serve --db "$db" --listen 127.0.0.1:0 >"$state/serve.out" 2>"$state/serve.err" &
server=$!
for _ in $(seq 50); do grep -q http "$state/serve.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$state/serve.out")
port=$(echo "$url" | sed 's|.*:\([0-9]*\)/|\1|')

# median TIMES... -> the median
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# time_ms COMMAND...: the median wall time of `runs` runs, in ms
time_ms() {
  for _ in $(seq "$runs"); do
    local start=$(date +%s%N); "$@" >/dev/null; echo $(( ($(date +%s%N) - start) / 1000000 ))
  done | median
}

# What the host page asks for (hosts/dmonctl/web/ui/src/app.js, HOST_CHARTS), 650 points each
# (a chart's width), for 24 h.
until_ms=$(( $(date +%s) * 1000 ))
from_ms=$(( until_ms - 86400000 ))
charts=("system.cpu.utilization&label=cpu=total" "system.cpu.utilization" "system.memory.usage"
        "system.disk.io&rate=true" "system.disk.operations&rate=true" "system.network.io&rate=true"
        "system.network.errors&rate=true" "dmon.sink.dropped&rate=true" "dmon.sink.queued"
        "process.cpu.time&rate=true" "process.memory.usage")
# Each chart's request as the server answers it (curl's time_total: connect, request, answer;
# not curl's own start), one after another: "SECONDS BYTES" per chart.
host_page() {
  for chart in "${charts[@]}"; do
    curl -s -o /dev/null -w '%{time_total} %{size_download}\n' \
      "${url}api/v1/points?metric=${chart}&host=big-1&from=$from_ms&until=$until_ms&points=650"
  done
}
# The same data through dmonctl query: one process per chart, --step of 24 h / 650.
host_query() {
  for chart in "${charts[@]}"; do
    local metric=${chart%%&*} rate=""
    [[ "$chart" == *rate=true* ]] && rate=--rate
    "$build/bin/dmonctl" query --db "$db" --metric "$metric" --host big-1 --from "${from_ms}000000" \
      --until "${until_ms}000000" --step 133s $rate --format csv
  done
}

curl -s -o /dev/null "${url}api/v1/overview?points=59"  # warm the page cache
# Computed: a different points= each time, so the server's one-second answer cache misses.
overview_ms=$(for i in $(seq "$runs"); do
  curl -s -o /dev/null -w '%{time_total}\n' "${url}api/v1/overview?points=$((60 + i))"; done |
  awk '{printf "%d\n", $1 * 1000}' | median)
overview_bytes=$(curl -s -o /dev/null -w '%{size_download}' "${url}api/v1/overview")
cached_ms=$(for _ in $(seq "$runs"); do
  curl -s -o /dev/null -w '%{time_total}\n' "${url}api/v1/overview"; done |
  awk '{printf "%.1f\n", $1 * 1000}' | median)
top_ms=$(time_ms "$build/bin/dmonctl" top --once --db "$db")
page_ms=$(for _ in $(seq "$runs"); do host_page | awk '{s+=$1} END {printf "%d\n", s*1000}'; done | median)
page_bytes=$(host_page | awk '{s+=$2} END {print s}')
query_ms=$(time_ms host_query)
query_bytes=$(host_query | wc -c)

echo "[bench] 50 clients for 10 s: the overview, the host list and two host charts"
load=$("$build/bin/dmon_http_load" "$port" 10 50 "/api/v1/overview" "/api/v1/hosts" \
  "/api/v1/points?metric=system.cpu.utilization&host=web-17&from=now-15m&points=600" \
  "/api/v1/points?metric=system.network.io&host=web-500&rate=true&from=now-15m&points=600")
load_small=$("$build/bin/dmon_http_load" "$port" 10 50 \
  "/api/v1/points?metric=system.cpu.utilization&host=web-17&from=now-15m&points=600" \
  "/api/v1/points?metric=system.network.io&host=web-500&rate=true&from=now-15m&points=600")

echo
echo "| figure | dmonctl serve | baseline (same run) | ratio |"
echo "|---|---|---|---|"
echo "| overview, 1,000 hosts (target < 100 ms) | $overview_ms ms, $overview_bytes B | dmonctl top --once: $top_ms ms | $(awk "BEGIN {printf \"%.2f\", $overview_ms / $top_ms}") |"
echo "| the same within a second (answer cache) | $cached_ms ms | | |"
echo "| host page, 24 h at 1 s, 11 charts (target < 200 ms, < 500 KB) | $page_ms ms, $page_bytes B | 11 x dmonctl query --step 133s: $query_ms ms, $query_bytes B of CSV | $(awk "BEGIN {printf \"%.2f\", $page_ms / $query_ms}") |"
echo "| 50 clients, 10 s, mixed (overview, hosts, 2 charts) | $load | | |"
echo "| 50 clients, 10 s, charts only | $load_small | | |"
