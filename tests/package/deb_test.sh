#!/usr/bin/env bash
# The Debian packages as an administrator meets them: built from a finished build with
# scripts/package.sh (lintian clean), installed with dpkg, the agent's config checked and its
# units verified from the installed files, the installed agent run as the dmon user the way its
# unit runs it (it tells the service manager READY, RELOADING and STOPPING, and writes to the
# journal with priorities), upgraded to a newer revision (edited conffile and data kept),
# removed (data and conffiles kept) and purged (nothing of dmon left but its system user).
#
# Installs into this machine's /usr, /etc and /var/lib, and takes them off again: CI runs it on a
# throw-away machine. It refuses to run where a dmon package is already installed.
#
# usage: tests/package/deb_test.sh [BUILD_DIR]     (default build/)
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
work=$(mktemp -d /tmp/dmon-deb-test.XXXXXX)
chmod 755 "$work"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "[deb] ok: $1"; }
fail() { failed=$((failed + 1)); echo "[deb] FAILED: $1"; }

if [ "$(id -u)" != 0 ]; then
  echo "[deb] needs root (dpkg -i); skipped" >&2
  exit 1
fi
if dpkg-query -W -f='${Status}' dmon 2>/dev/null | grep -q "installed"; then
  echo "[deb] a dmon package is installed on this machine: not touching it" >&2
  exit 1
fi
agent_pid=""
cleanup() {
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null
  dpkg -P dmon-dev dmon >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# 1. Build two revisions (the second is the upgrade) and lint them.
if bash scripts/package.sh "$build" "$work/r1" 1 >"$work/package1.log" 2>&1 &&
   DMON_PACKAGE_NO_LINT=1 bash scripts/package.sh "$build" "$work/r2" 2 >"$work/package2.log" 2>&1; then
  ok "packages built, lintian without errors ($(grep -c '^\[lintian\] W' "$work/package1.log") warnings: $(grep '^\[lintian\] W' "$work/package1.log" | awk '{print $4}' | sort -u | tr '\n' ' '))"
else
  fail "scripts/package.sh"; cat "$work/package1.log" "$work/package2.log"
  exit 1
fi

# 2. Install.
if dpkg -i "$work"/r1/dmon_*.deb "$work"/r1/dmon-dev_*.deb >"$work/install.log" 2>&1; then
  ok "dpkg -i dmon dmon-dev"
else
  fail "dpkg -i"; cat "$work/install.log"; exit 1
fi
unit_dir=/lib/systemd/system
[ -f "$unit_dir/dmon-agent.service" ] || unit_dir=/usr/lib/systemd/system
missing=""
for file in /usr/bin/dmon /usr/bin/dmonctl /usr/lib/dmon/proc_cpu.so /usr/lib/dmon/amqp_publish.so \
            /usr/lib/dmon/sqlite_store.so /etc/dmon/agent.yaml /etc/dmon/controller.yaml \
            "$unit_dir/dmon-agent.service" "$unit_dir/dmon-controller.service" \
            /usr/include/dmon/plugin.h /usr/lib/cmake/dmon-sdk/dmon-sdk-config.cmake \
            /usr/share/man/man1/dmon.1.gz /usr/share/man/man1/dmonctl.1.gz \
            /usr/share/doc/dmon/copyright; do
  [ -e "$file" ] || missing="$missing $file"
done
state=$(stat -c '%U:%G %a' /var/lib/dmon 2>/dev/null)
password=$(stat -c '%U:%G %a' /etc/dmon/amqp.password 2>/dev/null)
if [ -z "$missing" ] && getent passwd dmon >/dev/null && [ "$state" = "dmon:dmon 750" ] &&
   [ "$password" = "dmon:dmon 600" ] &&
   grep -qx /etc/dmon/agent.yaml /var/lib/dpkg/info/dmon.conffiles; then
  ok "files in place, user dmon, /var/lib/dmon dmon:dmon 750, amqp.password dmon 600, /etc/dmon/*.yaml are conffiles"
else
  fail "installed files:${missing:- none missing}, /var/lib/dmon '$state', amqp.password '$password'"
fi

# 3. The installed host finds its plugins without configuration; the units are valid.
if /usr/bin/dmon check --config /etc/dmon/agent.yaml >"$work/check.out" 2>&1 &&
   grep -q "from /usr/lib/dmon/proc_cpu.so" "$work/check.out"; then
  ok "dmon check --config /etc/dmon/agent.yaml ($(tail -n 1 "$work/check.out"))"
else
  fail "dmon check of the installed agent config"; cat "$work/check.out"
fi
if systemd-analyze verify "$unit_dir/dmon-agent.service" "$unit_dir/dmon-controller.service" \
     >"$work/verify.out" 2>&1 && [ ! -s "$work/verify.out" ]; then
  ok "systemd-analyze verify accepts both units"
else
  fail "systemd-analyze verify"; cat "$work/verify.out"
fi

# 4. The installed agent, run as its unit runs it (as dmon, its environment), under a stand-in
#    service manager: a datagram socket in NOTIFY_SOCKET, standard error as a journal stream.
notify=$work/notify.sock
socat -u "UNIX-RECV:$notify,mode=777" - >"$work/notify.out" 2>/dev/null &
listener=$!
mkdir -p "$work/run" && chown dmon:dmon "$work/run" && chmod 700 "$work/run"
touch "$work/agent.err" && chown dmon "$work/agent.err"
for _ in $(seq 50); do [ -S "$notify" ] && break; sleep 0.1; done
journal_id=$(stat -c '%d:%i' "$work/agent.err")
NOTIFY_SOCKET=$notify JOURNAL_STREAM=$journal_id DMON_CONTROL=$work/run/agent.sock \
  DMON_SPOOL=/var/lib/dmon/spool/test DMON_AMQP_URL=amqp://guest@127.0.0.1:1/ \
  runuser -u dmon -- /usr/bin/dmon run --config /etc/dmon/agent.yaml 2>>"$work/agent.err" &
agent_pid=$!
wait_for() {  # wait_for PATTERN FILE: up to 15 s
  for _ in $(seq 150); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
if wait_for "READY=1" "$work/notify.out"; then
  # The broker on port 1 refuses the agent: its first failed write is logged as an error.
  wait_for '^<3>' "$work/agent.err"
  kill -HUP "$(pgrep -u dmon -f 'dmon run --config /etc/dmon/agent.yaml' | head -n 1)"
  if wait_for "RELOADING=1" "$work/notify.out" && wait_for "reloaded: generation 2" "$work/notify.out"; then
    ok "READY=1 when started, RELOADING=1 then READY=1 on SIGHUP ($(tr '\n' ' ' <"$work/notify.out" | cut -c1-160))"
  else
    fail "no RELOADING=1 / READY=1 after SIGHUP"; cat "$work/notify.out"
  fi
else
  fail "the installed agent never said READY=1"; cat "$work/notify.out" "$work/agent.err"
fi
kill -TERM "$(pgrep -u dmon -f 'dmon run --config /etc/dmon/agent.yaml' | head -n 1)" 2>/dev/null
wait "$agent_pid" 2>/dev/null
agent_pid=""
if wait_for "STOPPING=1" "$work/notify.out"; then ok "STOPPING=1 on SIGTERM"; else fail "no STOPPING=1"; fi
kill "$listener" 2>/dev/null
# A journal stream: priorities instead of time stamps ("<6>" information, "<3>" errors: the
# broker on port 1 refuses the agent).
if grep -q '^<6>\[host\]' "$work/agent.err" && grep -q '^<3>' "$work/agent.err" &&
   ! grep -q '^20[0-9][0-9]-' "$work/agent.err"; then
  ok "log lines carry journal priorities ($(grep -o '^<[0-9]>' "$work/agent.err" | sort | uniq -c | tr -s ' \n' ' '))"
else
  fail "journal priorities"; head -n 20 "$work/agent.err"
fi

# 5. Upgrade to the next revision: an edited conffile and the state folder are kept.
echo "# edited by the administrator" >>/etc/dmon/agent.yaml
echo keep >/var/lib/dmon/marker
if dpkg -i "$work"/r2/dmon_*.deb "$work"/r2/dmon-dev_*.deb >"$work/upgrade.log" 2>&1 &&
   [ "$(dpkg-query -W -f='${Version}' dmon)" = "$(dpkg-deb -f "$work"/r2/dmon_*.deb Version)" ] &&
   grep -q "edited by the administrator" /etc/dmon/agent.yaml && [ -f /var/lib/dmon/marker ]; then
  ok "upgrade to $(dpkg-query -W -f='${Version}' dmon): the edited agent.yaml and /var/lib/dmon kept"
else
  fail "upgrade"; cat "$work/upgrade.log"
fi

# 6. Remove keeps data and conffiles; purge removes them; nothing else is left.
dpkg -r dmon-dev dmon >"$work/remove.log" 2>&1
if [ ! -e /usr/bin/dmon ] && [ ! -e /usr/lib/dmon ] && [ ! -e /usr/include/dmon ] &&
   [ -f /etc/dmon/agent.yaml ] && [ -f /var/lib/dmon/marker ]; then
  ok "dpkg -r: programs gone, /etc/dmon and /var/lib/dmon kept"
else
  fail "dpkg -r"; cat "$work/remove.log"; ls -la /usr/lib/dmon /etc/dmon /var/lib/dmon 2>&1
fi
dpkg -P dmon-dev dmon >"$work/purge.log" 2>&1
left=$(ls -d /etc/dmon /var/lib/dmon /usr/lib/dmon /usr/share/doc/dmon /usr/lib/cmake/dmon-sdk \
  "$unit_dir/dmon-agent.service" /etc/systemd/system/multi-user.target.wants/dmon-agent.service 2>/dev/null)
if [ -z "$left" ] && ! dpkg-query -W dmon >/dev/null 2>&1; then
  ok "dpkg -P: nothing of dmon left (the dmon system user stays, as Debian keeps system users)"
else
  fail "dpkg -P left: $left"; cat "$work/purge.log"
fi

echo "package tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
