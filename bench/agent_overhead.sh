#!/usr/bin/env bash
# Agent overhead: dmon against collectd 5.12 (Debian's collectd-core), measured in the same run,
# each doing the same work each second. Two rounds:
#   collectors  every Linux collector (cpu, memory, disk, network, filesystems, load/uptime,
#               processes in 5 groups), samples to /dev/null (dmon) / UDP (collectd);
#   deployed    the shipped config/agent.yaml (amqp_publish with confirms and a spool) against
#               collectd with the same plugins and its amqp plugin, both publishing to one
#               RabbitMQ on 127.0.0.1:5691 (a controller consumes dmon's messages).
# Reports CPU seconds (user + system) and peak RSS (VmHWM) of each, and their ratios; then the
# floor: the peak RSS of a C program and of a C++ program (shared libstdc++, no iostreams) that
# only start a thread and sleep (bench/runtime_floor.c, .cpp), in the same run.
#
# usage: bench/agent_overhead.sh [SECONDS]     (default 60, per agent and round)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
duration=${1:-60}
port=5691
work=$(mktemp -d /tmp/dmon-bench.XXXXXX)
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
[ -x build/bin/dmon ] || bash scripts/build.sh build >/dev/null
collectd_bin=$(command -v collectd || echo /usr/sbin/collectd)

cat >"$work/dmon.yaml" <<YAML
node: bench
interval: 1s
log_level: warn
control: $work/dmon.sock
collectors:
  - plugin: proc_cpu
  - plugin: proc_mem
  - plugin: proc_disk
  - plugin: proc_net
  - plugin: proc_fs
  - plugin: proc_system
  - plugin: proc_process
    groups:
      dmon: "^dmon$"
      web: "^(nginx|apache2|httpd|caddy)$"
      databases: "^(postgres|mysqld|mariadbd|redis-server|mongod)$"
      broker: "^(beam\\\\.smp|rabbitmq-server)$"
      ssh: "^sshd$"
sinks:
  - plugin: stdout
    path: /dev/null
YAML
write_collectd_conf "$work/collectd.conf" "$work" full
write_collectd_conf "$work/collectd-amqp.conf" "$work" full $port

# measure PID -> "cpu_seconds peak_rss_kb"
measure() {
  echo "$(cpu_seconds "$1") $(awk '/VmHWM/ {print $2}' "/proc/$1/status")"
}

# run_one NAME COMMAND... -> prints "cpu rss"; also writes NAME.smaps (resident kB per file).
run_one() {
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
  awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6; if (name == "") name = "[anon]"}
       /^Rss:/ {rss[name] += $2}
       END {for (n in rss) if (rss[n] > 0) printf "%7d kB  %s\n", rss[n], n}' \
    "/proc/$pid/smaps" | sort -rn >"$work/$name.smaps"
  kill -TERM "$pid"
  wait "$pid" || true
  echo "$figures"
}

report() {  # report TITLE DMON_CPU DMON_RSS CD_CPU CD_RSS
  echo
  echo "$1"
  printf '%-10s %12s %14s\n' "agent" "cpu seconds" "peak RSS (MB)"
  printf "%-10s %12s %14.1f\n" "dmon" "$2" "$(awk -v k="$3" 'BEGIN {print k / 1024}')"
  printf "%-10s %12s %14.1f\n" "collectd" "$4" "$(awk -v k="$5" 'BEGIN {print k / 1024}')"
  awk -v a="$2" -v b="$4" 'BEGIN { if (b > 0) printf "dmon / collectd CPU: %.2f\n", a / b; else print "dmon / collectd CPU: collectd used no measurable CPU" }'
  awk -v a="$3" -v b="$5" 'BEGIN { printf "dmon / collectd RSS: %.2f\n", a / b }'
}

# Round 1: the collectors.
read -r dmon_cpu dmon_rss < <(run_one dmon build/bin/dmon run --config "$work/dmon.yaml")
read -r cd_cpu cd_rss < <(run_one collectd "$collectd_bin" -f -C "$work/collectd.conf")
cp "$work/dmon.smaps" "$work/dmon-collectors.smaps"

# Round 2: as deployed, both publishing to one broker.
bash scripts/broker.sh start >/dev/null
(umask 077 && echo guest >"$work/amqp.password")
export DMON_AMQP_URL="amqp://guest@127.0.0.1:$port/" DMON_AMQP_PASSWORD_FILE="$work/amqp.password"
DMON_DB="$work/controller.db" DMON_CONTROL="$work/controller.sock" \
  build/bin/dmon run --config config/controller.yaml >"$work/controller.log" 2>&1 &
sleep 2
read -r agent_cpu agent_rss < <(DMON_SPOOL="$work/spool" DMON_CONTROL="$work/agent.sock" \
  run_one agent build/bin/dmon run --config config/agent.yaml --node bench)
read -r cda_cpu cda_rss < <(run_one collectd-amqp "$collectd_bin" -f -C "$work/collectd-amqp.conf")
stored=$(stored_samples "$work/controller.db")

report "collectors: ${duration}s at 1 s, every Linux collector (proc_process: 5 groups) / collectd cpu, memory, disk, interface, df, load, uptime, processes (5)" \
  "$dmon_cpu" "$dmon_rss" "$cd_cpu" "$cd_rss"
report "deployed: config/agent.yaml (amqp_publish, spool) / collectd + amqp plugin, one broker, ${duration}s" \
  "$agent_cpu" "$agent_rss" "$cda_cpu" "$cda_rss"
echo "(the controller stored $stored samples from the dmon agent)"

# The floor: what a process costs before it does anything, in C and in C++.
gcc -O2 -pthread bench/runtime_floor.c -o "$work/floor_c"
g++ -O2 -std=c++20 -pthread bench/runtime_floor.cpp -o "$work/floor_cpp"
floor_rss() {
  "$1" &
  local pid=$!
  sleep 2
  awk '/VmHWM/ {print $2}' "/proc/$pid/status"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}
floor_c=$(floor_rss "$work/floor_c")
floor_cpp=$(floor_rss "$work/floor_cpp")
echo
echo "floor: a program that starts a thread and sleeps, peak RSS"
printf '%-28s %8.1f MB\n' "C (libc)" "$(awk -v k="$floor_c" 'BEGIN {print k / 1024}')" \
  "C++ (libstdc++.so, libm)" "$(awk -v k="$floor_cpp" 'BEGIN {print k / 1024}')" \
  "collectd, collectors round" "$(awk -v k="$cd_rss" 'BEGIN {print k / 1024}')" \
  "dmon, collectors round" "$(awk -v k="$dmon_rss" 'BEGIN {print k / 1024}')"
awk -v c="$floor_c" -v p="$floor_cpp" -v d="$dmon_rss" -v k="$cd_rss" 'BEGIN {
  printf "C++ runtime before any work: +%.1f MB over C; dmon above its floor: %.1f MB, collectd above its: %.1f MB\n",
    (p - c) / 1024, (d - p) / 1024, (k - c) / 1024 }'
echo
echo "where dmon's resident memory is (collectors round, /proc/PID/smaps, kB per mapping):"
cat "$work/dmon-collectors.smaps"
echo
echo "collectd's (collectors round):"
cat "$work/collectd.smaps"
echo
echo "dmon agent as deployed:"
cat "$work/agent.smaps"
