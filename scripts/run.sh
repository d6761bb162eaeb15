#!/usr/bin/env bash
# Installs what is missing, builds the console and the server in release
# mode, and starts Setpoint on the embedded SQLite store with demo data.
# Ctrl-C stops it.
#
#   SETPOINT_LISTEN=0.0.0.0:8080 scripts/run.sh   to listen elsewhere
#   SETPOINT_ADMIN_PASSWORD=…  scripts/run.sh     to choose the first admin password
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
exec "$target_dir/release/setpoint" serve --demo --console-dir dist --data "$data"
