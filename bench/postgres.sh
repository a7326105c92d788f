#!/usr/bin/env bash
# PostgreSQL and the cluster (bench/README.md, "## postgres"), all measured in the same run, with
# Debian's PostgreSQL 15 and RabbitMQ on loopback:
#  1. the limit: a bare COPY of the same rows into the same partitioned table (one statement);
#  2. broker -> one controller -> PostgreSQL: BATCHES messages of 100 samples over 1,000 series
#     wait in the queue (one node, classic queue), the controller drains them; samples/s;
#  3. the same with two controllers on the queue;
#  4. the same as 2 on a three-node cluster with a quorum queue; and the publisher's rate (with
#     confirms) into one node against into the cluster;
#  5. bytes a sample in PostgreSQL (tables and indexes of the partitions, over the rows).
#
#   bench/postgres.sh [BATCHES]     (default 10000 = 1,000,000 samples)
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-10000}
samples=$((batches * 100))
work=$(mktemp -d /tmp/dmon-bench-postgres.XXXXXX)
chmod 755 "$work"  # as root, the server runs as `postgres` and keeps its state in here
pg_port=25490
single_port=5690
cluster_port=5780
export DMON_PG_PORT=$pg_port DMON_PG_DIR="$work/postgres"
amqp_password="$work/amqp.password"
echo guest >"$amqp_password"
chmod 600 "$amqp_password"
pg_password="$work/pg.password"
echo bench-password >"$pg_password"
chmod 600 "$pg_password"
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  DMON_BROKER_PORT=$single_port DMON_BROKER_DIR="$work/broker" bash scripts/broker.sh stop >/dev/null 2>&1 || true
  DMON_BROKER_PORT=$cluster_port DMON_BROKER_CLUSTER_DIR="$work/cluster" bash scripts/broker.sh cluster stop 3 >/dev/null 2>&1 || true
  bash scripts/postgres.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bash scripts/setup.sh --tests >/dev/null
bash scripts/build.sh build >/dev/null
tool=build/bin/dmon_bench_ingest
psql_bench() { PGPASSWORD=bench-password psql -X -q -t -A "postgresql://bench@127.0.0.1:$pg_port/bench" "$@"; }
now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN {printf "%.0f", n / (b - a)}'; }

bash scripts/postgres.sh start
bash scripts/postgres.sh psql -c "CREATE ROLE bench LOGIN PASSWORD 'bench-password'" -c "CREATE DATABASE bench OWNER bench" >/dev/null

# controller NAME URLS QUEUE QUEUE_TYPE SCHEMA: a controller in the background (pid in $!)
controller() {
  cat >"$work/$1.yaml" <<YAML
node: $1
interval: 1s
control: $work/$1.sock
self_metrics: false
collectors:
  - plugin: amqp_consume
    interval: 100ms
    urls: $2
    password_file: $amqp_password
    queue: $3
    queue_type: $4
    prefetch: 2000
sinks:
  - plugin: postgres_store
    conninfo: postgresql://bench@127.0.0.1:$pg_port/bench
    password_file: $pg_password
    schema: $5
    batch_size: 20000
    flush_interval: 100ms
    queue_size: 1000000
YAML
  build/bin/dmon run --config "$work/$1.yaml" >"$work/$1.log" 2>&1 &
}
wait_consuming() {
  for ((i = 0; i < 300; i++)); do grep -q "consuming $2" "$work/$1.log" && return; sleep 0.1; done
  echo "[bench] error: $1 does not consume" >&2
  tail -5 "$work/$1.log" >&2
  exit 1
}
# declare NAME URLS QUEUE TYPE SCHEMA: the queue (bound to dmon.metrics) and the schema exist
declare_queue() {
  controller "$@"
  local pid=$!
  wait_consuming "$1" "$3"
  kill -TERM $pid
  wait $pid || true
}
stored() { psql_bench -c "SELECT count(*) FROM $1.samples" 2>/dev/null || echo 0; }
# drain SCHEMA PIDS...: seconds until SCHEMA holds every sample, then the controllers stop
drain_until_stored() {
  local schema=$1
  for ((i = 0; i < 1200; i++)); do
    [ "$(stored "$schema")" -ge "$samples" ] && return 0
    sleep 0.25
  done
  echo "[bench] error: only $(stored "$schema") of $samples samples stored in 300 s" >&2
  exit 1
}

echo "[bench] 1. bare COPY of $samples rows into the partitioned table"
single_url="amqp://guest@127.0.0.1:$single_port/"
DMON_BROKER_PORT=$single_port DMON_BROKER_DIR="$work/broker" bash scripts/broker.sh start >/dev/null
declare_queue declare "[$single_url]" bench.one classic one
psql_bench -c "CREATE SCHEMA bare" >/dev/null
base=$(( ($(date +%s) - 86400) * 1000000000 ))
# The same schema as postgres_store's (made by the controller above in `one`), copied to `bare`.
psql_bench -c "CREATE TABLE bare.samples (LIKE one.samples INCLUDING ALL) PARTITION BY RANGE (ts)" >/dev/null 2>&1 ||
  psql_bench -c "CREATE TABLE bare.samples (series_id bigint NOT NULL, ts bigint NOT NULL, value double precision NOT NULL) PARTITION BY RANGE (ts); CREATE INDEX ON bare.samples(series_id, ts)" >/dev/null
for d in -1 0 1; do
  start_ns=$(( ($(date -u -d "$d day 00:00" +%s)) * 1000000000 ))
  psql_bench -c "CREATE TABLE IF NOT EXISTS bare.samples_$(date -u -d "$d day" +%Y%m%d) PARTITION OF bare.samples FOR VALUES FROM ($start_ns) TO ($((start_ns + 86400000000000)))" >/dev/null
done
# Batch b: series (b*100 + j) mod 1000 at round b/10, value b*7 + j (as dmon_bench_ingest sends).
awk -v batches="$batches" -v base="$base" 'BEGIN {
  for (b = 0; b < batches; b++) for (j = 0; j < 100; j++)
    printf "%d\t%.0f\t%d\n", (b * 100 + j) % 1000 + 1, base + int(b / 10) * 1e9, b * 7 + j }' >"$work/rows.tsv"
t0=$(now)
psql_bench -c "\\copy bare.samples FROM '$work/rows.tsv'" >/dev/null
t1=$(now)
bare=$(rate "$samples" "$t0" "$t1")

echo "[bench] 2. one controller, one broker node (classic queue)"
published_single=$($tool publish "$single_url" "$batches" | tail -1)
t0=$(now)
controller one "[$single_url]" bench.one classic one
pid=$!
drain_until_stored one
t1=$(now)
kill -TERM $pid; wait $pid || true
one=$(rate "$samples" "$t0" "$t1")
DMON_BROKER_PORT=$single_port DMON_BROKER_DIR="$work/broker" bash scripts/broker.sh ctl -q delete_queue bench.one >/dev/null

echo "[bench] 3. two controllers on one queue"
declare_queue declare "[$single_url]" bench.two classic two
$tool publish "$single_url" "$batches" >/dev/null
t0=$(now)
controller two-a "[$single_url]" bench.two classic two
pa=$!
controller two-b "[$single_url]" bench.two classic two
pb=$!
drain_until_stored two
t1=$(now)
kill -TERM $pa $pb; wait $pa $pb || true
two=$(rate "$samples" "$t0" "$t1")
DMON_BROKER_PORT=$single_port DMON_BROKER_DIR="$work/broker" bash scripts/broker.sh stop >/dev/null

echo "[bench] 4. one controller, three-node cluster (quorum queue)"
DMON_BROKER_PORT=$cluster_port DMON_BROKER_CLUSTER_DIR="$work/cluster" bash scripts/broker.sh cluster start 3 >/dev/null
cluster_urls="[amqp://guest@127.0.0.1:$cluster_port/, amqp://guest@127.0.0.1:$((cluster_port + 1))/, amqp://guest@127.0.0.1:$((cluster_port + 2))/]"
declare_queue declare "$cluster_urls" bench.quorum quorum quorum
published_cluster=$($tool publish "amqp://guest@127.0.0.1:$cluster_port/" "$batches" | tail -1)
t0=$(now)
controller quorum "$cluster_urls" bench.quorum quorum quorum
pid=$!
drain_until_stored quorum
t1=$(now)
kill -TERM $pid; wait $pid || true
quorum=$(rate "$samples" "$t0" "$t1")

bytes=$(psql_bench -c "SELECT sum(pg_total_relation_size(k.oid)) FROM pg_inherits i JOIN pg_class k ON k.oid = i.inhrelid WHERE i.inhparent = 'one.samples'::regclass")
rows=$(stored one)

echo
echo "postgres_store, $samples samples in messages of 100 over 1,000 series (2 cores; PostgreSQL and RabbitMQ on the same machine)"
printf '%-58s %10s samples/s\n' "bare COPY, one statement (the limit)" "$bare"
printf '%-58s %10s samples/s\n' "publisher -> one broker node (confirms)" "$published_single"
printf '%-58s %10s samples/s\n' "publisher -> three-node cluster, quorum queue (confirms)" "$published_cluster"
printf '%-58s %10s samples/s\n' "broker -> one controller -> PostgreSQL" "$one"
printf '%-58s %10s samples/s\n' "broker -> two controllers -> PostgreSQL" "$two"
printf '%-58s %10s samples/s\n' "cluster (quorum) -> one controller -> PostgreSQL" "$quorum"
awk -v o="$one" -v b="$bare" 'BEGIN {printf "one controller / bare COPY: %.2f (target >= 0.5)\n", o / b}'
awk -v t="$two" -v o="$one" 'BEGIN {printf "two controllers / one: %.2f\n", t / o}'
awk -v q="$quorum" -v o="$one" 'BEGIN {printf "cluster / one node, end to end: %.2f\n", q / o}'
awk -v c="$published_cluster" -v s="$published_single" 'BEGIN {printf "cluster / one node, publishing: %.2f\n", c / s}'
awk -v b="$bytes" -v n="$rows" 'BEGIN {printf "bytes a sample in PostgreSQL (table + index): %.1f (%d bytes, %d rows)\n", b / n, b, n}'
