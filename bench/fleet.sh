#!/usr/bin/env bash
# Fleet control across many agents on this machine (issue 17), on a broker of its own:
#  1. `dmonctl fleet status --all` and `dmonctl fleet reload --all` across N agents (default 50,
#     light configs: proc_mem every 10 s into a file): the time until every answer is in
#     (dmonctl stops waiting once every agent of its roster answered), 5 runs each, median;
#  2. the broker's and the agents' CPU while idle over S seconds (default 60), the same agents
#     first without a `fleet:` section and then with one (the control channel open): the
#     difference is what the channel costs.
#
# usage: bench/fleet.sh [AGENTS] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
agents=${1:-50}
seconds=${2:-60}
bash scripts/build.sh build -DDMON_BUILD_TESTS=ON >/dev/null
work=$(mktemp -d /tmp/dmon-fleet-bench.XXXXXX)
port=5689
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker"
cleanup() {
  pkill -f "dmon run --config $work/" 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
bash scripts/broker.sh start >/dev/null
bash scripts/broker.sh ctl -q add_user admin pw-admin >/dev/null
bash scripts/broker.sh ctl -q set_permissions -p / admin '.*' '.*' '.*' >/dev/null
(umask 077 && echo guest >"$work/guest.password" && echo pw-admin >"$work/admin.password")
url="amqp://guest@127.0.0.1:$port/"

write_config() {  # write_config NODE WITH_FLEET
  {
    echo "node: $1"
    echo "interval: 10s"
    echo "control: $work/$1.sock"
    echo "collectors:"
    echo "  - plugin: proc_mem"
    echo "sinks:"
    echo "  - plugin: stdout"
    echo "    path: $work/$1.lp"
    if [ "$2" = yes ]; then
      echo "fleet:"
      echo "  url: $url"
      echo "  password_file: $work/guest.password"
      echo "  groups: [bench]"
      echo "  admins: [admin]"
    fi
  } >"$work/$1.yaml"
}
start_agents() {  # start_agents WITH_FLEET
  for ((i = 1; i <= agents; i++)); do
    write_config "agent-$i" "$1"
    build/bin/dmon run --config "$work/agent-$i.yaml" >"$work/agent-$i.log" 2>&1 &
  done
}
stop_agents() {
  pkill -TERM -f "dmon run --config $work/" || true
  while pgrep -f "dmon run --config $work/" >/dev/null; do sleep 0.2; done
}
# CPU seconds (user + system) of the processes whose command line matches, from /proc.
cpu_ticks() {
  local total=0 pid
  for pid in $(pgrep -f "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}
hz=$(getconf CLK_TCK)
idle_cpu() {  # idle_cpu LABEL: the agents' and the broker's CPU over $seconds
  sleep 5  # started and settled
  local agents0 broker0 agents1 broker1
  agents0=$(cpu_ticks "dmon run --config $work/")
  broker0=$(cpu_ticks "beam.smp.*$work/broker")
  sleep "$seconds"
  agents1=$(cpu_ticks "dmon run --config $work/")
  broker1=$(cpu_ticks "beam.smp.*$work/broker")
  awk -v l="$1" -v a=$((agents1 - agents0)) -v b=$((broker1 - broker0)) -v hz="$hz" -v s="$seconds" -v n="$agents" \
    'BEGIN { printf "%-24s agents %6.2f s CPU (%.3f%% of a core, %.1f ms per agent)   broker %6.2f s CPU (%.3f%% of a core)\n",
             l, a / hz, 100 * a / hz / s, 1000 * a / hz / n, b / hz, 100 * b / hz / s }'
}

fleet() {  # fleet ARGS...: the wall time of one dmonctl fleet command, in ms
  local started ended
  started=$(date +%s%N)
  build/bin/dmonctl fleet "$@" --url "amqp://admin@127.0.0.1:$port/" --password-file "$work/admin.password" \
    --roster "$work/roster.json" --timeout 30s --all >"$work/fleet.out" 2>&1 || {
    cat "$work/fleet.out" >&2; echo "fleet $* failed" >&2; exit 1; }
  ended=$(date +%s%N)
  grep -q "^$agents answered, 0 expected did not; $agents ok" <(tail -n 1 "$work/fleet.out") || {
    tail -n 3 "$work/fleet.out" >&2; exit 1; }
  echo $(((ended - started) / 1000000))
}
median() { tr ' ' '\n' | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "== $agents agents, idle, without a fleet: section (${seconds} s)"
start_agents no
idle_cpu "without fleet:"
stop_agents

echo "== $agents agents with fleet: (the control channel open)"
start_agents yes
for ((i = 1; i <= agents; i++)); do
  until grep -q '\[fleet\] listening' "$work/agent-$i.log" 2>/dev/null; do sleep 0.2; done
done
idle_cpu "with fleet:"
# The roster first (a ping waits for its whole timeout only while no roster exists).
build/bin/dmonctl fleet ping --all --url "amqp://admin@127.0.0.1:$port/" --password-file "$work/admin.password" \
  --roster "$work/roster.json" --timeout 5s >/dev/null || true
for command in status reload; do
  times=""
  for run in 1 2 3 4 5; do times+="$(fleet "$command") "; done
  echo "fleet $command --all across $agents agents: every answer in after $(echo "$times" | median) ms (median of 5: $times)"
done
stop_agents
