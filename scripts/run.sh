#!/usr/bin/env bash
# Installs what is missing, builds the console and the server in release
# mode, and starts Setpoint on the embedded SQLite store with demo data.
# Ctrl-C stops it.
#
#   SETPOINT_LISTEN=0.0.0.0:8080 scripts/run.sh   to listen elsewhere
#   SETPOINT_ADMIN_PASSWORD=…  scripts/run.sh     to choose the first admin password
#   SETPOINT_DEMO_AGENT=1 scripts/run.sh           also run an agent for prod that
#                                                  writes into ./agent-out (the
#                                                  Fleet page shows it as demo-1)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
target_dir=${CARGO_TARGET_DIR:-target}

printf '\033[1m==> %s\033[0m\n' "building the console (trunk, release)"
PATH="$PWD/node_modules/.bin:$PATH" trunk build --release --offline
printf '\033[1m==> %s\033[0m\n' "building the server (release)"
cargo build --release -p setpoint-server

data=${SETPOINT_DATA:-./data}
if [[ -f "$data/initial-admin-password" ]]; then
  printf 'Log in as admin with password %s (from %s)\n' "$(cat "$data/initial-admin-password")" "$data/initial-admin-password"
fi
bin="$target_dir/release/setpoint"
if [[ "${SETPOINT_DEMO_AGENT:-}" != 1 ]]; then
  exec "$bin" serve --demo --console-dir dist --data "$data"
fi

# The demo agent: a token of its own (created offline, before the server
# holds the store), then the agent beside the server. It retries until the
# server answers.
token=$("$bin" token create demo-agent --role agent --environment prod --data "$data" 2>/dev/null)
"$bin" serve --demo --console-dir dist --data "$data" &
server=$!
listen=${SETPOINT_LISTEN:-127.0.0.1:8080}
"$bin" agent --server "http://${listen/0.0.0.0/127.0.0.1}" --token "$token" --environment prod \
  --cluster demo-1 --namespace demo --file ./agent-out --state-dir ./agent-out/.state &
agent=$!
trap 'kill "$agent" "$server" 2>/dev/null || true' EXIT INT TERM
printf 'A demo agent writes prod into ./agent-out; see it on the Fleet page.\n'
wait "$server"
