# Shared by the benchmark scripts: source it, do not run it.

# write_collectd_conf FILE WORKDIR: collectd 5.12 doing what a dmon agent does each second (cpu,
# memory, disk, interface), sending every value over UDP to a loopback port nobody listens on:
# the cost of an agent that ships every value, as dmon's sink ships every sample.
write_collectd_conf() {
  cat >"$1" <<CONF
Hostname "bench"
Interval 1
BaseDir "$2"
PIDFile "$2/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin cpu
LoadPlugin memory
LoadPlugin disk
LoadPlugin interface
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "25826"
</Plugin>
CONF
}

# install_collectd: Debian's collectd-core for the baseline, if it is not there yet.
install_collectd() {
  if ! command -v collectd >/dev/null && [ ! -x /usr/sbin/collectd ]; then
    echo "[bench] installing collectd-core for the baseline"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends collectd-core </dev/null >/dev/null 2>&1 || true
  fi
}

# stored_samples DB: samples in a store file (head, closed and open chunks), 0 if not there yet.
stored_samples() {
  sqlite3 "$1" "SELECT (SELECT coalesce(sum(count), 0) FROM head) + (SELECT coalesce(sum(count), 0) FROM chunks) + (SELECT coalesce(sum(count), 0) FROM open_chunks)" 2>/dev/null || echo 0
}

# cpu_seconds PID...: user + system CPU seconds the processes have used so far.
cpu_seconds() {
  local ticks=0 p stat
  for p in "$@"; do
    stat=$(cat "/proc/$p/stat" 2>/dev/null) || continue
    stat=${stat##*) }  # the fields after the command name, which may hold spaces
    set -- $stat
    ticks=$((ticks + ${12} + ${13}))
  done
  awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}'
}
