#!/usr/bin/env bash
# Prints Setpoint's performance figures on this machine, beside a peer run in
# the same minute (absolute numbers drift between runs and machines):
#   - snapshot GET req/s at 64 connections, and nginx serving the same bytes
#     as a static file;
#   - durable writes/s at 1 and 64 clients (each client its own service),
#     and etcd (one member, fsync per commit) taking puts the same way; then
#     the same writes with 2,000 and 20,000 services in the environment;
#   - time from a write to its delivery at all of 1,000 SSE watchers (200
#     writes, so that p99 is not just the slowest one), and at 1,000 etcd
#     watches of one key;
#   - delivery: 1,000 simulated agents long-polling and reporting to one
#     central (change to all fetched, central's CPU and memory), and change
#     to verified-in-etcd by 50 real `setpoint agent`s, a prefix each in one
#     etcd.
# Not a test: it asserts nothing. Targets are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
for tool in wrk nginx etcd etcdctl; do
  command -v "$tool" >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light etcd-server etcd-client >/dev/null; }
done

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p setpoint-server --bin setpoint --example loadgen
setpoint="$target_dir/release/setpoint"
loadgen="$target_dir/release/examples/loadgen"
seconds=${BENCH_SECONDS:-10}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [[ -f $work/nginx.pid ]] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT
token=$("$setpoint" token create bench --role admin --data "$work/data" 2>/dev/null)
port=18181
SETPOINT_ADMIN_PASSWORD=bench-password-123 RUST_LOG=warn \
  "$setpoint" serve --demo --listen "127.0.0.1:$port" --data "$work/data" --console-dir "$work/none" \
  --max-streams-per-principal 2000 >"$work/server.log" 2>&1 &
server_pid=$!
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.2; done
base="http://127.0.0.1:$port/api/v1"
auth="Authorization: Bearer $token"

# 64 services for the write clients, imported in one change set.
python3 - "$work/bench.json" <<'PY'
import json, sys
services = [{"service": f"bench-{i}", "schema": {"n": {"type": "int", "default": 0}}} for i in range(64)]
doc = {"document": {"format": "setpoint/1", "environments": [], "services": services}, "reason": "bench"}
json.dump(doc, open(sys.argv[1], "w"))
PY
curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' --data-binary "@$work/bench.json" "$base/import" >/dev/null

echo "== snapshot GET, 64 connections, ${seconds}s (wrk -t2)"
curl -fsS -H "$auth" "$base/environments/prod/snapshot" -o "$work/snapshot.json"
printf 'snapshot size: %s bytes\n' "$(wc -c <"$work/snapshot.json")"
wrk -t2 -c64 -d"${seconds}s" -H "$auth" "$base/environments/prod/snapshot" | grep -E 'Requests/sec|Latency'
mkdir -p "$work/www"
cp "$work/snapshot.json" "$work/www/snapshot.json"
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 127.0.0.1:18182; root $work/www; }
}
NGINX
nginx -c "$work/nginx.conf"
echo "-- peer: nginx serving the same bytes as a static file"
wrk -t2 -c64 -d"${seconds}s" "http://127.0.0.1:18182/snapshot.json" | grep -E 'Requests/sec|Latency'

echo "== durable writes (SQLite, synchronous=FULL, group commit), ${seconds}s"
"$loadgen" writes "127.0.0.1:$port" "$token" 1 "$seconds" bench-
"$loadgen" writes "127.0.0.1:$port" "$token" 64 "$seconds" bench-
echo "-- peer: etcd $(etcd --version | sed -n 's/^etcd Version: //p'), one member, puts through its JSON gateway"
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:18183 --advertise-client-urls http://127.0.0.1:18183 \
  --listen-peer-urls http://127.0.0.1:18184 --initial-advertise-peer-urls http://127.0.0.1:18184 \
  --initial-cluster bench=http://127.0.0.1:18184 >"$work/etcd.log" 2>&1 &
until curl -fsS http://127.0.0.1:18183/health >/dev/null 2>&1; do sleep 0.2; done
"$loadgen" etcd-puts 127.0.0.1:18183 1 "$seconds"
"$loadgen" etcd-puts 127.0.0.1:18183 64 "$seconds"

# The 1,000 SSE watchers share one token: the per-principal stream cap
# (256 by default) is raised for them above.
echo "== write to delivery at 1,000 SSE watchers (200 writes, 20 ms apart)"
"$loadgen" fanout "127.0.0.1:$port" "$token" 1000 200 bench-0 dev
echo "-- peer: etcd, 1,000 watches of one key through its JSON gateway, 200 puts"
"$loadgen" etcd-fanout 127.0.0.1:18183 1000 200

echo "== delivery: 1,000 simulated agents (a token each) long-polling and reporting; 50 writes, 300 ms apart"
"$loadgen" agents "127.0.0.1:$port" "$token" 1000 50 bench-0 dev "$server_pid"

echo "== delivery: write to verified-in-etcd at 50 real agents (one etcd, a prefix each); 50 writes, 250 ms apart"
agent_token=$(curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' \
  -d '{"name": "bench-agents", "role": "agent", "environment": "dev"}' "$base/tokens" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
agents=()
for i in $(seq 0 49); do
  RUST_LOG=warn "$setpoint" agent --server "http://127.0.0.1:$port" --token "$agent_token" \
    --environment dev --cluster "bench-$i" --etcd http://127.0.0.1:18183 --etcd-prefix "/bench/a$i" \
    >"$work/agent-$i.log" 2>&1 &
  agents+=($!)
done
until [[ $(ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:18183 get --prefix --keys-only /bench/a | grep -c '/dev/meta$') -eq 50 ]]; do sleep 0.2; done
"$loadgen" agent-delivery "127.0.0.1:$port" "$token" 127.0.0.1:18183 50 50 bench-0 dev

# A write re-seals its service and re-derives each environment's checksum
# from the services' digests (docs/api.md): its cost must not grow with the
# environment. Every service is in every environment's snapshot. Last,
# because the services it adds would change every figure above.
# The agents would fetch every grown snapshot after every write.
kill "${agents[@]}" 2>/dev/null || true
wait "${agents[@]}" 2>/dev/null || true
for total in 2000 20000; do
  have=$(curl -fsS -H "$auth" "$base/services" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
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
    curl -fsS -X POST -H "$auth" -H 'Content-Type: application/json' --data-binary "@$chunk" "$base/import" >/dev/null
    rm "$chunk"
  done
  echo "== durable writes with $total services in the environment, ${seconds}s"
  "$loadgen" writes "127.0.0.1:$port" "$token" 1 "$seconds" bench-
  "$loadgen" writes "127.0.0.1:$port" "$token" 64 "$seconds" bench-
done

if [[ -d dist ]]; then
  # Every file of the console, each gzipped on its own as a server would send
  # it. A browser fetches only part of it at first (the console is split per
  # page): bench/console.sh measures what it fetches.
  echo "== console files (dist/, all of them; the initial payload is in bench/console.sh)"
  for kind in wasm js css; do
    raw=0 gz=0
    while IFS= read -r -d '' file; do
      raw=$((raw + $(wc -c <"$file"))); gz=$((gz + $(gzip -9c "$file" | wc -c)))
    done < <(find dist -name "*.$kind" -print0)
    printf '%-4s raw %7d B  gzip %7d B\n' "$kind" "$raw" "$gz"
  done
fi
