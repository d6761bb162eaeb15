#!/usr/bin/env bash
# Prints Setpoint's figures on PostgreSQL (issue 19), beside its peers in
# the same run:
#   - durable writes/s at 1 and 64 clients (each client its own service) on
#     SQLite, on PostgreSQL through one replica, and through three replicas
#     behind nginx (round robin: consecutive writes of a client land on
#     different replicas); peers: etcd (one member) taking puts the same
#     way, and pgbench on the same PostgreSQL, one row updated per
#     transaction (what the database itself commits at 1 and 64 clients);
#   - snapshot GETs through nginx across the three replicas, beside nginx
#     serving the same bytes as a static file;
#   - time from a write on one replica to its delivery on 200 SSE watchers
#     of another (200 writes, 20 ms apart);
#   - the writes again with 2,000 and 20,000 services in the environment.
# PostgreSQL runs with its defaults (fsync on, synchronous_commit on): an
# acknowledged write is durable, as on SQLite with synchronous=FULL.
# Not a test: it asserts nothing. Targets are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
for tool in wrk nginx etcd; do
  command -v "$tool" >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light etcd-server >/dev/null; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$pg_bin/pg_ctl" ]] || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); }

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p setpoint-server --bin setpoint --example loadgen
setpoint="$target_dir/release/setpoint"
loadgen="$target_dir/release/examples/loadgen"
seconds=${BENCH_SECONDS:-10}

work=$(mktemp -d)
chmod 755 "$work"
# PostgreSQL refuses to run as root: as root, its files belong to `postgres`.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  for pid in "$work"/nginx*.pid; do [[ -f $pid ]] && kill "$(cat "$pid")" 2>/dev/null || true; done
  [[ -d $work/pg ]] && as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/pg"
[[ $(id -u) -eq 0 ]] && chown postgres:postgres "$work/pg"
pg_port=18290
as_pg "$pg_bin/initdb" -A trust -U postgres -D "$work/pg/data" >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
  -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres setpoint
url="postgres://postgres@127.0.0.1:$pg_port/setpoint"

# One import of the 64 write clients' services.
python3 - "$work/bench.json" <<'PY'
import json, sys
services = [{"service": f"bench-{i}", "schema": {"n": {"type": "int", "default": 0}}} for i in range(64)]
doc = {"document": {"format": "setpoint/1", "environments": [], "services": services}, "reason": "bench"}
json.dump(doc, open(sys.argv[1], "w"))
PY

# serve NAME PORT ARGS…: starts a server and waits until it is ready.
serve() {
  local name=$1 port=$2
  shift 2
  SETPOINT_ADMIN_PASSWORD=bench-password-123 RUST_LOG=warn \
    "$setpoint" serve --listen "127.0.0.1:$port" --data "$work/$name" --console-dir "$work/none" \
    --max-streams-per-principal 2000 "$@" >"$work/$name.log" 2>&1 &
  until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.2; done
}

import() {
  curl -fsS -X POST -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
    --data-binary "@$3" "http://127.0.0.1:$1/api/v1/import" >/dev/null
}

echo "== durable writes, SQLite (synchronous=FULL), ${seconds}s"
sqlite_token=$("$setpoint" token create bench --role admin --data "$work/sqlite" 2>/dev/null)
serve sqlite 18280 --demo
sqlite_pid=$!
import 18280 "$sqlite_token" "$work/bench.json"
"$loadgen" writes 127.0.0.1:18280 "$sqlite_token" 1 "$seconds" bench-
"$loadgen" writes 127.0.0.1:18280 "$sqlite_token" 64 "$seconds" bench-
kill "$sqlite_pid"
wait "$sqlite_pid" 2>/dev/null || true
echo "-- peer: etcd $(etcd --version | sed -n 's/^etcd Version: //p'), one member, puts through its JSON gateway"
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:18286 --advertise-client-urls http://127.0.0.1:18286 \
  --listen-peer-urls http://127.0.0.1:18287 --initial-advertise-peer-urls http://127.0.0.1:18287 \
  --initial-cluster bench=http://127.0.0.1:18287 >"$work/etcd.log" 2>&1 &
etcd_pid=$!
until curl -fsS http://127.0.0.1:18286/health >/dev/null 2>&1; do sleep 0.2; done
"$loadgen" etcd-puts 127.0.0.1:18286 1 "$seconds"
"$loadgen" etcd-puts 127.0.0.1:18286 64 "$seconds"
kill "$etcd_pid"
wait "$etcd_pid" 2>/dev/null || true

echo "-- peer: pgbench on the same PostgreSQL, one row updated per transaction, ${seconds}s"
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres peer
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d peer \
  -c "CREATE TABLE t (id int PRIMARY KEY, n bigint); INSERT INTO t SELECT g, 0 FROM generate_series(1, 64) g"
printf '\\set id random(1, 64)\nUPDATE t SET n = n + 1 WHERE id = :id;\n' >"$work/peer.sql"
for clients in 1 64; do
  "$pg_bin/pgbench" -n -M prepared -h 127.0.0.1 -p "$pg_port" -U postgres -c "$clients" -j 2 \
    -T "$seconds" -f "$work/peer.sql" peer 2>&1 |
    awk -v c="$clients" '/latency average/ {l = $4} /^tps/ {printf "pgbench: clients=%s per_second=%.0f latency_avg_ms=%s\n", c, $3, l}'
done

token=$("$setpoint" token create bench --role admin --store "$url" --data "$work/a" 2>/dev/null)
serve a 18281 --store "$url" --demo
serve b 18282 --store "$url"
serve c 18283 --store "$url"
import 18281 "$token" "$work/bench.json"
# The configuration docs/deployment.md gives, as the tests run it.
mkdir -p "$work/nginx"
sed -e "s|@PID@|$work/nginx.pid|" -e "s|@LOGS@|$work/nginx|" -e "s|@TEMP@|$work/nginx|" \
  -e "s|@LISTEN@|127.0.0.1:18280|" -e "s|@REPLICA_A@|127.0.0.1:18281|" \
  -e "s|@REPLICA_B@|127.0.0.1:18282|" -e "s|@REPLICA_C@|127.0.0.1:18283|" \
  deploy/nginx.conf >"$work/nginx.conf"
nginx -c "$work/nginx.conf"

# Waits until the three replicas serve the same revision of `dev`: a load
# generator reads its clients' bases through nginx, from any replica, and
# one that has not yet followed the last writes would hand out a stale base.
revision() {
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$1/api/v1/environments/dev/snapshot" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["revision"])'
}
settled() {
  until [[ $(revision 18281) == "$(revision 18282)" && $(revision 18282) == "$(revision 18283)" ]]; do sleep 0.1; done
}

echo "== durable writes, PostgreSQL, one replica, ${seconds}s"
"$loadgen" writes 127.0.0.1:18281 "$token" 1 "$seconds" bench-
"$loadgen" writes 127.0.0.1:18281 "$token" 64 "$seconds" bench-
echo "== durable writes, PostgreSQL, three replicas behind nginx, ${seconds}s"
settled
"$loadgen" writes 127.0.0.1:18280 "$token" 1 "$seconds" bench-
settled
"$loadgen" writes 127.0.0.1:18280 "$token" 64 "$seconds" bench-

# wrk spreads connections over one address: three of them, one per
# replica, are the replicas' total; the peer gets the same three.
# get_spread NAME URL…: prints the sum of the wrks' requests/s.
get_spread() {
  local name=$1 i=0 pids=()
  shift
  for url in "$@"; do
    wrk -t1 -c21 -d"${seconds}s" -H "Authorization: Bearer $token" "$url" >"$work/wrk-$name-$i.txt" &
    pids+=($!)
    i=$((i + 1))
  done
  wait "${pids[@]}"
  printf '%s: ' "$name"
  cat "$work"/wrk-"$name"-*.txt | awk '/Requests\/sec/ {sum += $2; n++} END {printf "%.0f requests/s over %d wrk processes of 21 connections\n", sum, n}'
}
snapshot=/api/v1/environments/prod/snapshot
echo "== snapshot GET across three replicas, 3×21 connections, ${seconds}s"
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:18281$snapshot" -o "$work/snapshot.json"
printf 'snapshot size: %s bytes\n' "$(wc -c <"$work/snapshot.json")"
get_spread replicas "http://127.0.0.1:18281$snapshot" "http://127.0.0.1:18282$snapshot" "http://127.0.0.1:18283$snapshot"
mkdir -p "$work/www"
cp "$work/snapshot.json" "$work/www/"
cat >"$work/static.conf" <<NGINX
worker_processes auto;
pid $work/nginx-static.pid;
error_log $work/nginx-static.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:18285; root $work/www; }
}
NGINX
nginx -c "$work/static.conf"
echo "-- peer: nginx serving the same bytes as a static file"
get_spread nginx-static http://127.0.0.1:18285/snapshot.json http://127.0.0.1:18285/snapshot.json http://127.0.0.1:18285/snapshot.json
kill "$(cat "$work/nginx-static.pid")"
echo "-- the same GETs through nginx in front of the replicas (deploy/nginx.conf)"
get_spread through-nginx "http://127.0.0.1:18280$snapshot" "http://127.0.0.1:18280$snapshot" "http://127.0.0.1:18280$snapshot"

echo "== a write on replica a to 200 SSE watchers on replica b (200 writes, 20 ms apart)"
"$loadgen" fanout 127.0.0.1:18282 "$token" 200 200 bench-0 dev 127.0.0.1:18281

# The environment grows: the writer's cost must not grow with it, nor a
# follower's (it rebuilds only the services a commit wrote).
for total in 2000 20000; do
  have=$(curl -fsS -H "Authorization: Bearer $token" http://127.0.0.1:18281/api/v1/services | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
  python3 - "$work/fill" "$have" "$total" <<'PY'
import json, sys
prefix, have, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
names = [f"fill-{i}" for i in range(have, total)]
for chunk, start in enumerate(range(0, len(names), 5000)):
    services = [{"service": n, "schema": {"n": {"type": "int", "default": 0}}} for n in names[start:start + 5000]]
    doc = {"document": {"format": "setpoint/1", "environments": [], "services": services}, "reason": "bench"}
    json.dump(doc, open(f"{prefix}-{chunk}.json", "w"))
PY
  for chunk in "$work"/fill-*.json; do
    import 18281 "$token" "$chunk"
    rm "$chunk"
  done
  echo "== durable writes, PostgreSQL, $total services in the environment, one replica, ${seconds}s"
  "$loadgen" writes 127.0.0.1:18281 "$token" 1 "$seconds" bench-
  "$loadgen" writes 127.0.0.1:18281 "$token" 64 "$seconds" bench-
  echo "-- three replicas behind nginx"
  settled
  "$loadgen" writes 127.0.0.1:18280 "$token" 64 "$seconds" bench-
done
