# Shared by the benchmark scripts: source it, do not run it.

# write_collectd_conf FILE WORKDIR [full] [AMQP_PORT]: collectd 5.12 doing what a dmon agent does
# each second (cpu, memory, disk, interface), sending every value over UDP to a loopback port
# nobody listens on: the cost of an agent that ships every value, as dmon's sink ships every
# sample. `full` adds what proc_fs, proc_system and proc_process do (df, load, uptime, processes
# with the five groups of config/agent.yaml); AMQP_PORT publishes to a broker there instead of UDP.
write_collectd_conf() {
  local file=$1 base=$2 full=${3:-} amqp_port=${4:-}
  cat >"$file" <<CONF
Hostname "bench"
Interval 1
BaseDir "$base"
PIDFile "$base/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
LoadPlugin cpu
LoadPlugin memory
LoadPlugin disk
LoadPlugin interface
CONF
  if [ "$full" = full ]; then
    cat >>"$file" <<CONF
LoadPlugin df
LoadPlugin load
LoadPlugin uptime
LoadPlugin processes
<Plugin processes>
  Process "dmon"
  ProcessMatch "web" "^(nginx|apache2|httpd|caddy)"
  ProcessMatch "databases" "^(postgres|mysqld|mariadbd|redis-server|mongod)"
  ProcessMatch "broker" "beam\\.smp"
  Process "sshd"
</Plugin>
CONF
  fi
  if [ -n "$amqp_port" ]; then
    cat >>"$file" <<CONF
LoadPlugin amqp
<Plugin amqp>
  <Publish "bench">
    Host "127.0.0.1"
    Port "$amqp_port"
    VHost "/"
    User "guest"
    Password "guest"
    Exchange "amq.topic"
    RoutingKey "collectd"
    Persistent true
    Format "Command"
  </Publish>
</Plugin>
CONF
  else
    cat >>"$file" <<CONF
LoadPlugin network
<Plugin network>
  Server "127.0.0.1" "25826"
</Plugin>
CONF
  fi
}

# install_collectd: Debian's collectd-core for the baseline, if it is not there yet, with the
# libraries its amqp plugin needs (collectd-core only suggests them).
install_collectd() {
  local missing=()
  for p in collectd-core libyajl2 librabbitmq4; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "[bench] installing ${missing[*]} for the baseline"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null 2>&1 || true
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
