#!/usr/bin/env bash
# Property-based tests of the HTTP API from its own OpenAPI description
# (schemathesis, from PyPI): generated requests to every operation, as an
# admin and as a token limited to one service and one environment. Fails
# on any 5xx, and on any answer that breaks the description (status, content
# type, schema).
#
#   scripts/schemathesis.sh [SETPOINT_BIN] [MAX_EXAMPLES]
#
# Starts its own server (the debug build by default) on a free loopback
# port over a temporary data directory, and removes both at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-${CARGO_TARGET_DIR:-target}/debug/setpoint}
examples=${2:-50}

command -v schemathesis >/dev/null || {
  echo "schemathesis is missing: run scripts/setup.sh --test" >&2
  exit 1
}

data=$(mktemp -d)
server=
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

token() { "$bin" token create "$@" --data "$data" 2>/dev/null; }
admin=$(token st-admin --role admin)
scoped=$(token st-scoped --role editor --services checkout --environment staging)

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SETPOINT_ADMIN_PASSWORD=schemathesis-password "$bin" serve --demo \
  --listen "127.0.0.1:$port" --data "$data" --console-dir /nonexistent \
  >"$data/server.log" 2>&1 &
server=$!
deadline=$((SECONDS + 60))
until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
  if (( SECONDS > deadline )) || ! kill -0 "$server" 2>/dev/null; then
    echo "the server did not start:" >&2
    cat "$data/server.log" >&2
    exit 1
  fi
  sleep 0.2
done

# Path parameters name things that exist (the demo's), so requests reach
# the logic behind them; crates/server/tests/bad_input.rs covers odd paths.
# A long-poll for a revision not reached yet waits as long as `wait` says
# (30 s unless given), longer than the request timeout: keep it to a second.
cat >"$data/schemathesis.toml" <<'TOML'
[parameters]
"query.wait" = "1s"
"path.service" = "checkout"
"path.environment" = "staging"
"path.flag" = "new-checkout-flow"
"path.breaker" = "payments-provider"
TOML

run() {
  local who=$1 bearer=$2
  printf '\033[1m==> schemathesis as %s\033[0m\n' "$who"
  # Event streams never end by design; they are tested in
  # crates/server/tests/ instead. Revoking tokens and deleting users would
  # revoke the run's own credentials; crates/server/tests/auth.rs tests them.
  # From the data directory: schemathesis keeps a cache where it runs.
  (cd "$data" && schemathesis --config-file "$data/schemathesis.toml" \
    run "http://127.0.0.1:$port/api/v1/openapi.json" \
    --url "http://127.0.0.1:$port" \
    --header "Authorization: Bearer $bearer" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path-regex '/events$' \
    --exclude-operation-id revoke_token \
    --exclude-operation-id delete_user \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$examples" \
    --request-timeout 10 \
    --seed 15 \
    --workers 1 \
    --no-color)
}
run admin "$admin"
run "a token limited to checkout in staging" "$scoped"
grep -E '(ERROR|panicked)' "$data/server.log" && { echo "the server logged errors" >&2; exit 1; }
echo "schemathesis: no 5xx, every answer as described"
