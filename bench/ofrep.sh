#!/usr/bin/env bash
# Prints OFREP throughput on this machine beside Unleash Edge's in the same
# minute (absolute numbers drift between runs and machines):
#   - bulk evaluation of 350 flags for one context at 64 connections:
#     Setpoint's POST /ofrep/v1/evaluate/flags; Unleash Edge 19.15.1 in
#     offline mode, bootstrapped with the same 350 flags in Unleash's
#     format, answering POST /api/frontend (the enabled ones) and
#     POST /api/frontend/all (all of them, as Setpoint answers);
#   - single-flag evaluation (a 50/50 split) at 64 connections.
# The flags: a third static, a third targeted by country, a third split
# 50/50 by user, across 10 services. Not a test: it asserts nothing.
# Targets are in docs/performance.md. Unleash Edge is built once by
# bench/unleash-edge.sh (about 7 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
command -v wrk >/dev/null || { as_root apt-get update -qq; as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p setpoint-server --bin setpoint
setpoint="$target_dir/release/setpoint"
edge=$(bench/unleash-edge.sh)
seconds=${BENCH_SECONDS:-10}

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
services, features = [], []
for s in range(10):
    flags = {}
    for k in range(35):
        name = f"flag-{k}"
        unleash = f"bench-{s}.{name}"
        if k % 3 == 0:
            prod = {"enabled": True, "default": {"variant": "on"}}
            strategy = {"name": "default", "parameters": {}}
        elif k % 3 == 1:
            prod = {"enabled": True, "default": {"variant": "off"}, "rules": [
                {"when": [{"attribute": "country", "op": "in", "values": ["NL", "BE"]}], "serve": {"variant": "on"}}]}
            strategy = {"name": "flexibleRollout",
                        "parameters": {"rollout": "100", "stickiness": "default", "groupId": unleash},
                        "constraints": [{"contextName": "country", "operator": "IN", "values": ["NL", "BE"]}]}
        else:
            prod = {"enabled": True, "default": {"split": {"weights": [
                {"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}]}}}
            strategy = {"name": "flexibleRollout",
                        "parameters": {"rollout": "50", "stickiness": "userId", "groupId": unleash}}
        flags[name] = {"variants": {"on": True, "off": False}, "off": "off", "environments": {"prod": prod}}
        features.append({"name": unleash, "enabled": True, "project": "default", "strategies": [strategy]})
    services.append({"service": f"bench-{s}", "flags": flags})
json.dump({"document": {"format": "setpoint/1", "environments": [], "services": services}, "reason": "bench"},
          open(f"{work}/import.json", "w"))
json.dump({"version": 2, "features": features}, open(f"{work}/features.json", "w"))
PY

post_script() { # body-file [header…] → a wrk Lua script POSTing the body
  local body=$1; shift
  {
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    for header in "$@"; do printf 'wrk.headers["%s"] = "%s"\n' "${header%%: *}" "${header#*: }"; done
    printf 'wrk.body = [[%s]]\n' "$(cat "$body")"
  }
}
run_wrk() { # name url script
  printf '%-44s' "$1"
  wrk -t2 -c64 -d"${seconds}s" -s "$3" "$2" | awk '/Requests\/sec/ {rps = $2} /Latency/ {latency = $2} END {printf "%10.0f req/s   latency avg %s\n", rps, latency}'
}

admin=$("$setpoint" token create bench-admin --role admin --data "$work/data" 2>/dev/null)
# Limited to the 10 bench services (not the demo's) and prod: 350 flags,
# named `bench-N:flag-K`.
ofrep=$("$setpoint" token create bench-ofrep --role viewer --environment prod \
  --services "$(printf 'bench-%s,' {0..9} | sed 's/,$//')" --data "$work/data" 2>/dev/null)
port=18191
SETPOINT_ADMIN_PASSWORD=bench-password-123 RUST_LOG=warn \
  "$setpoint" serve --demo --listen "127.0.0.1:$port" --data "$work/data" --console-dir "$work/none" \
  >"$work/server.log" 2>&1 &
server_pid=$!
until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -fsS -X POST -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
  --data-binary "@$work/import.json" "http://127.0.0.1:$port/api/v1/import" >/dev/null

echo '{"context": {"targetingKey": "user-42", "country": "NL"}}' >"$work/ofrep.json"
echo '{"userId": "user-42", "properties": {"country": "NL"}}' >"$work/unleash.json"
post_script "$work/ofrep.json" "Authorization: Bearer $ofrep" >"$work/ofrep.lua"

bulk="http://127.0.0.1:$port/ofrep/v1/evaluate/flags"
flags=$(curl -fsS -X POST -H "Authorization: Bearer $ofrep" --data-binary "@$work/ofrep.json" "$bulk" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["flags"]; print(len(d), sum(1 for f in d if f.get("value") is True))')
echo "== OFREP, 64 connections, ${seconds}s each (wrk -t2); Setpoint answers ${flags% *} flags, ${flags#* } on"
printf 'bulk answer: %s bytes\n' "$(curl -fsS -X POST -H "Authorization: Bearer $ofrep" --data-binary "@$work/ofrep.json" "$bulk" | wc -c)"
run_wrk "Setpoint bulk (350 flags)" "$bulk" "$work/ofrep.lua"
run_wrk "Setpoint single (a split)" "$bulk/bench-3:flag-2" "$work/ofrep.lua"
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true

secret="*:development.$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
edge_port=18192
# Offline mode refuses to start without a client token (`-t`); the
# frontend endpoints take the same token as a frontend one (`-f`).
RUST_LOG=warn "$edge" --port "$edge_port" offline -b "$work/features.json" -t "$secret" -f "$secret" >"$work/edge.log" 2>&1 &
edge_pid=$!
until curl -fsS "http://127.0.0.1:$edge_port/internal-backstage/health" >/dev/null 2>&1; do
  kill -0 "$edge_pid" 2>/dev/null || { cat "$work/edge.log" >&2; exit 1; }
  sleep 0.2
done
post_script "$work/unleash.json" "Authorization: $secret" >"$work/unleash.lua"
frontend="http://127.0.0.1:$edge_port/api/frontend"
count() { curl -fsS -X POST -H "Authorization: $secret" -H 'Content-Type: application/json' --data-binary "@$work/unleash.json" "$1" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["toggles"]))'; }
echo "Unleash Edge answers $(count "$frontend") toggles on /api/frontend, $(count "$frontend/all") on /api/frontend/all"
run_wrk "Unleash Edge /api/frontend (enabled only)" "$frontend" "$work/unleash.lua"
run_wrk "Unleash Edge /api/frontend/all" "$frontend/all" "$work/unleash.lua"
run_wrk "Unleash Edge single (a split)" "$frontend/features/bench-3.flag-2" "$work/unleash.lua"
