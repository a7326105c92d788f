#!/usr/bin/env bash
# Tests of the Windows build under Wine: the portable unit tests, WMI memory against the
# machine's MemTotal, the "class not available" path of the performance classes (Wine's WMI
# has none), and a Windows agent next to a Linux agent feeding one Linux controller.
#
# usage: tests/windows/wine_tests.sh [WINDOWS_BUILD_DIR] [LINUX_BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
win=${1:-build-windows}
linux=${2:-build}
wine=/usr/lib/wine/wine64
# Wine maps the Unix file system to drive Z:, and with a Unix working directory a path such as
# /tmp/x.yaml reaches the Windows program as Z:\tmp\x.yaml: no path translation needed.
work=$(mktemp -d /tmp/dmon-wine.XXXXXX)
export WINEDEBUG=-all WINEPREFIX="$work/prefix"
port=5697
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  /usr/lib/wine/wineserver -k 2>/dev/null || true
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  umount "$work/tdrive" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "[wine] ok: $1"; }
fail() { failed=$((failed + 1)); echo "[wine] FAILED: $1"; }
# Lines matching PATTERN in FILE: 0 when there are none or the file is missing ("grep -c ||
# echo 0" would print "0" twice, since grep -c prints 0 and fails).
count_lines() { local n; n=$(grep -c "$1" "$2" 2>/dev/null) || true; echo "${n:-0}"; }

# Installed as an administrator would install it: into a folder nobody else may write, with no
# such folder above (dmon refuses plugins others could swap, and Wine shows a Unix mode as an
# access list: /tmp, 1777, reads as "Everyone may change", whatever the sticky bit says).
mkdir -p "${HOME:-/root}/.cache"
install=$(mktemp -d "${HOME:-/root}/.cache/dmon-wine-install.XXXXXX")
cp -r "$win/bin" "$win/lib" "$install/"
win=$install
trap 'cleanup; rm -rf "$install"' EXIT

echo "[wine] preparing a Wine prefix in $WINEPREFIX"
$wine wineboot --init >/dev/null 2>&1 || true

# 1. The portable unit tests as a Windows executable.
if $wine "$win/bin/dmon_unit_tests.exe" --gtest_brief=1 >"$work/unit.log" 2>&1; then
  ok "portable unit tests ($(grep -o '[0-9]* tests' "$work/unit.log" | tail -n 1))"
else
  fail "portable unit tests"; tail -n 30 "$work/unit.log"
fi

# 1b. Plugin trust on Windows: a DLL in a folder that Everyone may change is refused.
mkdir -p "$work/open-plugins"
cp "$win/lib/dmon/wmi_mem.dll" "$work/open-plugins/"
chmod 777 "$work/open-plugins"
cat >"$work/open.yaml" <<YAML
node: wine
plugin_paths: [Z:$work/open-plugins]
collectors:
  - plugin: wmi_mem
YAML
$wine "$win/bin/dmon.exe" once --config "$work/open.yaml" >"$work/open.out" 2>"$work/open.err"
if grep -q "refused: the folder .*open-plugins may be changed by Everyone" "$work/open.err"; then
  ok "a plugin DLL in a folder Everyone may change is refused"
else
  fail "plugin in an open folder: $(tr -d '\r' <"$work/open.err" | head -n 3)"
fi

# 2. wmi_mem reports the machine's memory (Wine's WMI answers Win32_OperatingSystem for real).
cat >"$work/mem.yaml" <<YAML
node: wine
collectors:
  - plugin: wmi_mem
YAML
$wine "$win/bin/dmon.exe" once --config ""$work/mem.yaml"" \
  >"$work/mem.out" 2>"$work/mem.err"
limit=$(awk '/^system.memory.limit,/ {split($2, f, "="); print f[2]}' "$work/mem.out")
memtotal=$(awk '/^MemTotal:/ {print $2 * 1024}' /proc/meminfo)
if [ -n "$limit" ] && awk -v a="$limit" -v b="$memtotal" 'BEGIN {d = (a - b) / b; if (d < 0) d = -d; exit !(d < 0.001)}'; then
  ok "wmi_mem system.memory.limit $limit within 0.1% of MemTotal $memtotal"
else
  fail "wmi_mem system.memory.limit '$limit' vs MemTotal $memtotal"; cat "$work/mem.out" "$work/mem.err"
fi

# 2b. wmi_fs reports each drive's free space as the Linux folder behind it has it: C: (the prefix's
#     drive_c) and T:, a 64 MiB tmpfs with 10 MiB written, mapped as a drive. Wine's
#     Win32_LogicalDisk.Size is the same for every drive (not the folder's size: a Wine
#     limitation), so only free space is compared; wmi_system and wmi_process report what Wine's
#     WMI has and name what it lacks.
tdrive="$work/tdrive"
mkdir -p "$tdrive"
mounted=0
if mount -t tmpfs -o size=64m tmpfs "$tdrive" 2>/dev/null; then
  mounted=1
  dd if=/dev/zero of="$tdrive/ten" bs=1M count=10 2>/dev/null
  ln -sfn "$tdrive" "$WINEPREFIX/dosdevices/t:"
  # A running wineserver keeps the drive list it started with: start a fresh one.
  /usr/lib/wine/wineserver -k 2>/dev/null || true
fi
cat >"$work/host.yaml" <<YAML
node: wine
self_metrics: false
collectors:
  - plugin: wmi_fs
    drives: [C*, T*]
  - plugin: wmi_system
  - plugin: wmi_process
    groups:
      dmon: "^dmon\\\\.exe$"
YAML
$wine "$win/bin/dmon.exe" once --config "$work/host.yaml" >"$work/host.out" 2>"$work/host.err"
tr -d '\r' <"$work/host.out" >"$work/host.lp"
tr -d '\r' <"$work/host.err" >"$work/host.log"
read -r t_avail < <(df -B1 --output=avail "$tdrive" | tail -n 1)
read -r c_avail < <(df -B1 --output=avail "$WINEPREFIX/drive_c" | tail -n 1)
[ "$mounted" = 1 ] && umount "$tdrive"
value_of() { awk -v key="$1" 'index($0, key) == 1 {split($2, f, "="); print f[2]}' "$work/host.lp"; }
c_free=$(value_of 'system.filesystem.usage,host=wine,device=C:,mountpoint=C:,type=NTFS,state=free')
t_free=$(value_of 'system.filesystem.usage,host=wine,device=T:,mountpoint=T:,type=NTFS,state=free')
c_used=$(value_of 'system.filesystem.usage,host=wine,device=C:,mountpoint=C:,type=NTFS,state=used')
if [ -n "$c_free" ] && [ -n "$c_used" ] &&
   awk -v f="$c_free" -v a="$c_avail" 'BEGIN {d = f - a; if (d < 0) d = -d; exit !(d <= 64 * 1048576)}'; then
  ok "wmi_fs C: free $c_free agrees with df of drive_c ($c_avail, other tests write there too)"
else
  fail "wmi_fs C: free '$c_free' used '$c_used' vs df avail $c_avail"; cat "$work/host.lp" "$work/host.log"
fi
if [ "$mounted" = 0 ]; then
  ok "wmi_fs T: not checked (no tmpfs could be mounted here)"
elif [ -n "$t_free" ] && awk -v f="$t_free" -v a="$t_avail" 'BEGIN {d = f - a; if (d < 0) d = -d; exit !(d <= 4096)}'; then
  ok "wmi_fs T: (a 64 MiB tmpfs, 10 MiB written) free $t_free = df's $t_avail within a block"
else
  fail "wmi_fs T: free '$t_free' vs df avail $t_avail"; cat "$work/host.lp" "$work/host.log"
fi
uptime_wine=$(value_of 'system.uptime,host=wine')
if [ -n "$uptime_wine" ] || grep -q "Win32_OperatingSystem .*no .*LastBootUpTime" "$work/host.log"; then
  ok "wmi_system: uptime '${uptime_wine}' or the missing property named"
else
  fail "wmi_system neither reported uptime nor named what is missing"; cat "$work/host.lp" "$work/host.log"
fi
if grep -q "^process.count,host=wine,group=dmon gauge=[1-9]" "$work/host.lp" &&
   { grep -q "^process.cpu.time,host=wine,group=dmon" "$work/host.lp" || grep -q "Win32_Process has no .*UserModeTime" "$work/host.log"; }; then
  ok "wmi_process: dmon.exe found in its group; $(grep -o 'Win32_Process has no [^:]*' "$work/host.log" || echo 'every property there')"
else
  fail "wmi_process"; cat "$work/host.lp" "$work/host.log"
fi

# 2c. exec on Windows through the host: a cmd.exe one-liner (shell: true) and a program with
#     arguments; its line protocol arrives, a garbage line is refused and said.
child_exe="Z:$(echo "$win/bin/dmon_exec_test_child.exe" | tr / '\\\\')"
cat >"$work/exec.yaml" <<YAML
node: wine
self_metrics: false
collectors:
  - plugin: exec
    name: shell_probe
    shell: true
    command: ["echo probe.value,via=cmd gauge=42& echo this is not line protocol"]
  - plugin: exec
    name: program_probe
    command: ['$child_exe', line, "probe.args,via=argv gauge=7"]
YAML
$wine "$win/bin/dmon.exe" once --config "$work/exec.yaml" >"$work/exec.out" 2>"$work/exec.err"
tr -d '\r' <"$work/exec.out" >"$work/exec.lp"
tr -d '\r' <"$work/exec.err" >"$work/exec.log"
if grep -q "^probe.value,host=wine,via=cmd gauge=42 " "$work/exec.lp" &&
   grep -q "line(s) refused" "$work/exec.log"; then
  ok "exec: cmd.exe's line protocol arrives, its garbage line is refused and said"
else
  fail "exec through cmd.exe"; cat "$work/exec.lp" "$work/exec.log"
fi
if grep -q "^probe.args,host=wine,via=argv gauge=7 " "$work/exec.lp"; then
  ok "exec: a program with arguments runs (its argument arrived whole)"
else
  fail "exec with an argument list"; cat "$work/exec.lp" "$work/exec.log"
fi

# 3. The performance classes are missing under Wine: one clear error each, naming the class,
#    and the host keeps running the other plugins.
cat >"$work/all.yaml" <<YAML
node: wine
interval: 500ms
self_metrics: false
collectors:
  - plugin: wmi_cpu
  - plugin: wmi_mem
  - plugin: wmi_disk
  - plugin: wmi_net
sinks:
  - plugin: stdout
    path: $work/all.lp
    flush_interval: 200ms
YAML
$wine "$win/bin/dmon.exe" run --config "$work/all.yaml" >"$work/all.out" 2>"$work/all.err" &
run_pid=$!
sleep 6
kill -TERM $run_pid 2>/dev/null; /usr/lib/wine/wineserver -k 2>/dev/null; wait $run_pid 2>/dev/null
for cls in Win32_PerfRawData_PerfOS_Processor Win32_PerfRawData_PerfDisk_PhysicalDisk Win32_PerfRawData_Tcpip_NetworkInterface; do
  if grep -q "collect failed (1 in a row): WMI class $cls is not available on this system" "$work/all.err"; then
    ok "missing class $cls reported by name"
  else
    fail "no clear error for missing class $cls"; cat "$work/all.err"
  fi
done
rounds=$(count_lines '^system.memory.limit,' "$work/all.lp")
if [ "$rounds" -ge 4 ]; then ok "wmi_mem kept running beside the failing collectors ($rounds rounds)"; else
  fail "wmi_mem stopped with the failing collectors ($rounds rounds)"; cat "$work/all.err"; fi

# 4. A Windows agent and a Linux agent into one Linux controller, as in the 2015 set-up.
if bash scripts/broker.sh start >"$work/broker.log" 2>&1; then
  (umask 077 && echo guest >"$work/amqp.password")
  export DMON_AMQP_URL="amqp://guest@127.0.0.1:$port/" DMON_DB="$work/mixed.db" \
    DMON_AMQP_PASSWORD_FILE="$work/amqp.password"
  DMON_CONTROL="$work/controller.sock" "$linux/bin/dmon" run --config config/controller.yaml >"$work/controller.log" 2>&1 &
  pids+=($!)
  DMON_SPOOL="$work/linux-spool" DMON_CONTROL="$work/linux-agent.sock" "$linux/bin/dmon" run --config config/agent.yaml --node linux-agent \
    >"$work/linux-agent.log" 2>&1 &
  pids+=($!)
  DMON_AMQP_PASSWORD_FILE="Z:$work/amqp.password" DMON_SPOOL="Z:$work/windows-spool" $wine "$win/bin/dmon.exe" run --config config/agent-windows.yaml --node windows-agent \
    >"$work/windows-agent.log" 2>&1 &
  pids+=($!)
  both=""
  for ((i = 0; i < 60; i++)); do
    sleep 0.5
    both=$(sqlite3 "$DMON_DB" "SELECT group_concat(host) FROM (SELECT DISTINCT host FROM series WHERE name = 'system.memory.limit' ORDER BY host)" 2>/dev/null || true)
    [ "$both" = "linux-agent,windows-agent" ] && break
  done
  if [ "$both" = "linux-agent,windows-agent" ]; then
    ok "a Windows agent (under Wine) and a Linux agent stored side by side by one controller"
  else
    fail "mixed agents: hosts with memory samples: '$both'"; tail -n 5 "$work/windows-agent.log" "$work/controller.log"
  fi
else
  fail "could not start the broker"; cat "$work/broker.log"
fi

# 5. The Windows service, as far as Wine's Service Control Manager goes: install, start (samples
#    flow), stop (flush, clean exit), uninstall. Services start in C:\windows\system32, so the
#    config names the output file by its Windows path.
cat >"$work/service.yaml" <<YAML
node: wine-service
interval: 500ms
self_metrics: false
collectors:
  - plugin: wmi_mem
sinks:
  - plugin: stdout
    path: Z:$work/service.lp
    flush_interval: 200ms
YAML
if $wine "$win/bin/dmon.exe" service install --name dmon-test --config "$work/service.yaml" >"$work/service.log" 2>&1 &&
   timeout 60 $wine net start dmon-test >>"$work/service.log" 2>&1; then
  for ((i = 0; i < 40; i++)); do
    [ "$(count_lines '^system.memory.limit,host=wine-service' "$work/service.lp")" -ge 2 ] && break
    sleep 0.5
  done
  stopped=0
  timeout 60 $wine net stop dmon-test >>"$work/service.log" 2>&1 && stopped=1
  rounds=$(count_lines '^system.memory.limit,host=wine-service' "$work/service.lp")
  if [ "$rounds" -ge 2 ] && [ "$stopped" = 1 ]; then ok "service installed, started ($rounds rounds stored) and stopped by the SCM"; else
    fail "service: $rounds rounds, stopped=$stopped"; cat "$work/service.log"; fi
else
  fail "service install/start"; cat "$work/service.log"
fi
if $wine "$win/bin/dmon.exe" service uninstall --name dmon-test >>"$work/service.log" 2>&1; then ok "service uninstalled"; else
  fail "service uninstall"; cat "$work/service.log"; fi

# 6. Hot reload on Windows: dmonctl.exe talks to dmon.exe through the named pipe.
pipe='\\.\pipe\dmon-wine-test'
write_reload_config() {
  cat >"$work/reload.yaml" <<YAML
node: wine-reload
self_metrics: false
control: '$pipe'
collectors:
  - plugin: wmi_mem
    interval: $1
sinks:
  - plugin: stdout
    path: $work/reload.lp
YAML
}
write_reload_config 1s
$wine "$win/bin/dmon.exe" run --config "$work/reload.yaml" >"$work/reload.out" 2>"$work/reload.err" &
reload_pid=$!
status=""
for ((i = 0; i < 40; i++)); do
  status=$($wine "$win/bin/dmonctl.exe" status --control "$pipe" 2>/dev/null | tr -d '\r' || true)
  case "$status" in *"generation 1"*) break ;; esac
  sleep 0.5
done
write_reload_config 2s
answer=$($wine "$win/bin/dmonctl.exe" reload --control "$pipe" 2>&1 | tr -d '\r' || true)
case "$status$answer" in
  *"node wine-reload, generation 1"*"reload ok: generation 2"*"changed: wmi_mem"*) ok "dmonctl.exe reload and status through the named pipe" ;;
  *) fail "reload on Windows: status '$status', reload '$answer'"; cat "$work/reload.err" ;;
esac
kill -TERM $reload_pid 2>/dev/null; /usr/lib/wine/wineserver -k 2>/dev/null; wait $reload_pid 2>/dev/null

echo "wine tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
