#!/usr/bin/env bash
# The Windows installer as an administrator meets it, under Wine: built with wixl from a finished
# Windows build (scripts/package-windows.sh), installed with msiexec into a fresh Wine prefix
# (files in Program Files, the data folder in ProgramData, the service registered and running),
# the installed config edited to point at a broker and the service restarted through Wine's
# Service Control Manager until its samples reach a Linux controller, upgraded to a newer
# version (the edited config, the password and the spool kept, the service running again),
# and uninstalled (the service, Program Files\dmon and ProgramData\dmon gone).
#
# usage: tests/package/msi_test.sh [WINDOWS_BUILD_DIR] [LINUX_BUILD_DIR]
set -uo pipefail
cd "$(dirname "$0")/../.."
win=${1:-build-windows}
linux=${2:-build}
wine=/usr/lib/wine/wine64
work=$(mktemp -d /tmp/dmon-msi-test.XXXXXX)
export WINEDEBUG=-all WINEPREFIX="$work/prefix"
port=5692
export DMON_BROKER_PORT=$port DMON_BROKER_DIR="$work/broker"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "[msi] ok: $1"; }
fail() { failed=$((failed + 1)); echo "[msi] FAILED: $1"; }
controller_pid=""
cleanup() {
  [ -n "$controller_pid" ] && kill -TERM "$controller_pid" 2>/dev/null && wait "$controller_pid" 2>/dev/null
  /usr/lib/wine/wineserver -k 2>/dev/null || true
  bash scripts/broker.sh stop >/dev/null 2>&1 || true
  if [ "${failed:-0}" != 0 ] && [ -n "${DMON_KEEP_FAILED:-}" ]; then echo "[msi] kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

drive_c=$WINEPREFIX/drive_c
program_files="$drive_c/Program Files/dmon"
data=$drive_c/ProgramData/dmon
# Wine prints a line on every start when / is not readable as a volume: not ours.
quiet() { grep -v 'Read access denied for device' || true; }
service_state() { $wine sc query dmon 2>/dev/null | tr -d '\r' | awk '/STATE/ {print $4}'; }
service_pid() { $wine sc queryex dmon 2>/dev/null | tr -d '\r' | awk '/PID/ {print $3}'; }
# Generous bounds (60 s): Wine starts a service slowly on a loaded machine; they only cost time
# when something is slow, and a state that never comes still fails.
wait_for_state() {
  local state=""
  for ((i = 0; i < 120; i++)); do
    state=$(service_state)
    [ "$state" = "$1" ] && break
    sleep 0.5
  done
  echo "$state"
}
# The agent's memory samples the controller stored (one per round).
rows_from() {
  local n
  n=$("$linux/bin/dmonctl" query --db "$work/controller.db" --metric system.memory.limit --host msi-agent \
      --since 1h --format csv 2>/dev/null | grep -c '^msi-agent,') || true
  echo "${n:-0}"
}
wait_for_rows_above() {
  local rows=0
  for ((i = 0; i < 120; i++)); do
    rows=$(rows_from)
    [ "${rows:-0}" -gt "$1" ] && break
    sleep 0.5
  done
  echo "${rows:-0}"
}

# 1. Two installers: this version and a newer one (the upgrade).
version=$(sed -n 's/^project(dmon VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
newer=$(echo "$version" | awk -F. '{printf "%d.%d.%d", $1, $2, $3 + 1}')
if msi=$(bash scripts/package-windows.sh "$win" "$work/v1" 2>"$work/package1.log") &&
   upgrade_msi=$(DMON_MSI_VERSION=$newer bash scripts/package-windows.sh "$win" "$work/v2" 2>"$work/package2.log"); then
  ok "installers built with wixl: $(basename "$msi") and $(basename "$upgrade_msi")"
else
  fail "scripts/package-windows.sh"; cat "$work/package1.log" "$work/package2.log"
  echo "msi tests: $passed passed, $failed failed"; exit 1
fi

# A fresh prefix, settled: right after `wineboot --init` its Service Control Manager is still
# being set up and does not find a service created in that moment (1060).
$wine wineboot --init >/dev/null 2>&1
/usr/lib/wine/wineserver -w

# 2. Install.
if $wine msiexec /i "Z:$msi" /qn /l*v "Z:$work/install.log" 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ]; then
  ok "msiexec /i"
else
  fail "msiexec /i"; grep -E "error|rror [0-9]|Return value 3" "$work/install.log" | head -20
  echo "msi tests: $passed passed, $failed failed"; exit 1
fi
missing=""
for file in "$program_files/bin/dmon.exe" "$program_files/bin/dmonctl.exe" \
            "$program_files/share/config/agent-windows.yaml" "$data/agent-windows.yaml" "$data/amqp.password"; do
  [ -f "$file" ] || missing+=" $file"
done
built_plugins=$(ls "$win"/lib/dmon/*.dll | wc -l)
installed_plugins=$(ls "$program_files"/lib/dmon/*.dll 2>/dev/null | wc -l)
if [ -z "$missing" ] && [ "$installed_plugins" = "$built_plugins" ] && [ "$(cat "$data/amqp.password")" = guest ]; then
  ok "files in Program Files\\dmon ($installed_plugins plugins), config and password in ProgramData\\dmon"
else
  fail "installed files: missing$missing; plugins $installed_plugins of $built_plugins"
fi
image=$($wine reg query 'HKLM\System\CurrentControlSet\Services\dmon' /v ImagePath 2>/dev/null | tr -d '\r' | quiet)
state=$(wait_for_state RUNNING)
case "$image" in
  *'C:\Program Files\dmon\bin\dmon.exe'*'service run --name dmon --config "C:\ProgramData\dmon\agent-windows.yaml"'*)
    if [ "$state" = RUNNING ]; then ok "service 'dmon' registered and started by the installer"; else
      fail "service state after install: '$state'"; fi ;;
  *) fail "service registration: '$image'" ;;
esac

# 3. Point it at a broker, restart it through the SCM, and see its samples stored by a Linux
#    controller. The agent spooled what it collected while no broker answered.
if ! bash scripts/broker.sh start >"$work/broker.log" 2>&1; then
  fail "could not start the broker"; cat "$work/broker.log"
  echo "msi tests: $passed passed, $failed failed"; exit 1
fi
(umask 077 && echo guest >"$work/amqp.password")
DMON_AMQP_URL="amqp://guest@127.0.0.1:$port/" DMON_DB="$work/controller.db" DMON_AMQP_PASSWORD_FILE="$work/amqp.password" \
  DMON_CONTROL="$work/controller.sock" "$linux/bin/dmon" run --config config/controller.yaml >"$work/controller.log" 2>&1 &
controller_pid=$!
sed -i -e 's/^node: .*/node: msi-agent/' \
  -e "s|url: \${DMON_AMQP_URL:-amqp://guest@127.0.0.1:5672/}|url: amqp://guest@127.0.0.1:$port/|" "$data/agent-windows.yaml"
# Running (not starting) before it is stopped, and the process id, to tell a restart by Wine
# (below) from the one the test asks for.
wait_for_state RUNNING >/dev/null
pid_before=$(service_pid)
timeout 60 $wine net stop dmon >"$work/net.log" 2>&1
stopped=$(wait_for_state STOPPED)
if [ "$stopped" != STOPPED ]; then
  # Seen once in CI (2026-12-07): `net stop` said "Invalid service control" and the service
  # was running a process with the edited config. Wine starts a prefix's auto-start services
  # again when its wineserver has to be started anew, which happens when the service process
  # had exited. Said, with the process ids, and stopped once more.
  echo "[msi] note: not stopped after net stop (state '$stopped', pid $pid_before -> $(service_pid)); net stop again"
  timeout 60 $wine net stop dmon >>"$work/net.log" 2>&1
  stopped=$(wait_for_state STOPPED)
fi
timeout 60 $wine net start dmon >>"$work/net.log" 2>&1
started=$(wait_for_state RUNNING)
rows=$(wait_for_rows_above 1)
if [ "$stopped" = STOPPED ] && [ "$started" = RUNNING ] && [ "$rows" -gt 1 ]; then
  ok "edited config, service restarted with net stop/start: $rows memory samples of msi-agent stored by the controller"
else
  fail "restart: stopped '$stopped', started '$started', $rows samples"; cat "$work/net.log"; tail -n 5 "$work/controller.log"
  sqlite3 "$work/controller.db" "SELECT DISTINCT host FROM series" 2>&1 | head
  "$linux/bin/dmonctl" query --db "$work/controller.db" --metric system.memory.limit --host msi-agent --since 1h --format csv 2>&1 | head -5
fi

# 4. Upgrade: the edited config, the password and the spool stay; the service runs again.
echo "s3cret-kept" >"$data/amqp.password.mark"
before_upgrade=$(rows_from)
if $wine msiexec /i "Z:$upgrade_msi" /qn /l*v "Z:$work/upgrade.log" 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ]; then
  state=$(wait_for_state RUNNING)
  rows=$(wait_for_rows_above "$before_upgrade")
  versions=$($wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null | tr -d '\r' | grep -c "DisplayVersion.*$newer" || true)
  if grep -q '^node: msi-agent' "$data/agent-windows.yaml" && [ -f "$data/amqp.password.mark" ] &&
     [ -d "$data/spool" ] && [ "$state" = RUNNING ] && [ "$rows" -gt "$before_upgrade" ] && [ "$versions" = 1 ]; then
    ok "upgrade to $newer: edited config and spool kept, service running again ($before_upgrade -> $rows samples)"
  else
    fail "upgrade: state '$state', samples $before_upgrade -> $rows, version $newer registered $versions times, config: $(grep '^node' "$data/agent-windows.yaml")"
    ls -la "$data"
    # Seen under Wine about once in five runs (2026-12-07): the new version's service registered
    # but STOPPED. What the installer said about the services, and what the SCM says now:
    tr -d '\r' <"$work/upgrade.log" |
      grep -aiE "StopServices|DeleteServices|InstallServices|StartServices|WaitServiceStopped|service '|Return value [23]|rror" | head -40
    $wine sc query dmon 2>&1 | tr -d '\r' | quiet
  fi
else
  fail "msiexec /i (upgrade)"; grep -E "rror|Return value 3" "$work/upgrade.log" | head -20
fi

# 5. Uninstall: the program and the service go, the data stays (as `dpkg -r`). The broker is
#    stopped first, so the service takes its shutdown_timeout to stop (it tries to send what it
#    holds): the installer must wait for it, or dmon.exe and the plugins are still in use when
#    it removes files (what Wine's StopServices alone did, seen in CI).
bash scripts/broker.sh stop >/dev/null 2>&1
sleep 2
if $wine msiexec /x "Z:$upgrade_msi" /qn /l*v "Z:$work/uninstall.log" 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ]; then
  left=""
  [ -e "$program_files/bin/dmon.exe" ] && left+=" Program Files\\dmon\\bin\\dmon.exe"
  [ -n "$(ls "$program_files"/lib/dmon 2>/dev/null)" ] && left+=" plugins"
  $wine reg query 'HKLM\System\CurrentControlSet\Services\dmon' >/dev/null 2>&1 && left+=" the service"
  # The installer waited for the service's process to end (Wine's StopServices does not).
  waited=$(tr -d '\r' <"$work/uninstall.log" | grep -ac 'WaitServiceStopped' || true)
  if [ -z "$left" ] && grep -q '^node: msi-agent' "$data/agent-windows.yaml" && [ -d "$data/spool" ] &&
     [ "$waited" -gt 0 ]; then
    ok "msiexec /x: service stopped and waited for, Program Files\\dmon removed, ProgramData\\dmon (config, spool) kept"
  else
    fail "after uninstall: left$left; data: $(ls "$data" 2>&1 | tr '\n' ' '); WaitServiceStopped in the log: $waited"
    # Seen once in CI (2026-12-07, not reproduced in four other runs): msiexec /x returned 0
    # and removed nothing. What the installer said about the service and the files:
    tr -d '\r' <"$work/uninstall.log" | grep -aiE "StopServices|DeleteServices|in use|dmon\.exe|Return value [23]|error" | head -30
  fi
else
  fail "msiexec /x"; grep -E "rror|Return value 3" "$work/uninstall.log" | head -20
fi

# 6. Installed again, it finds its config; purged, nothing of dmon is left (as `dpkg -P`).
if $wine msiexec /i "Z:$upgrade_msi" /qn 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ] &&
   [ "$(wait_for_state RUNNING)" = RUNNING ] && grep -q '^node: msi-agent' "$data/agent-windows.yaml"; then
  ok "installed again: the kept config in use, service running"
else
  fail "reinstall: state '$(service_state)'"
fi
if $wine msiexec /x "Z:$upgrade_msi" /qn PURGE=1 /l*v "Z:$work/purge.log" 2>&1 | quiet; [ "${PIPESTATUS[0]}" = 0 ]; then
  left=""
  [ -e "$program_files/bin/dmon.exe" ] && left+=" Program Files\\dmon\\bin\\dmon.exe"
  [ -e "$data" ] && left+=" ProgramData\\dmon"
  $wine reg query 'HKLM\System\CurrentControlSet\Services\dmon' >/dev/null 2>&1 && left+=" the service"
  if [ -z "$left" ]; then ok "msiexec /x PURGE=1: service, Program Files\\dmon and ProgramData\\dmon removed"; else
    fail "left after purge:$left"
    tr -d '\r' <"$work/purge.log" | grep -aiE "StopServices|DeleteServices|in use|dmon\.exe|Return value [23]|error" | head -30
  fi
else
  fail "msiexec /x PURGE=1"; grep -E "rror|Return value 3" "$work/purge.log" | head -20
fi

echo "msi tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
