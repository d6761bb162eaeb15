#!/usr/bin/env bash
# Installs what is missing, builds the console and the server in release
# mode, and starts Setpoint. Ctrl-C stops it.
#
#   SETPOINT_LISTEN=0.0.0.0:8080 scripts/run.sh   to listen elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
target_dir=${CARGO_TARGET_DIR:-target}

printf '\033[1m==> %s\033[0m\n' "building the console (trunk, release)"
PATH="$PWD/node_modules/.bin:$PATH" trunk build --release --offline
printf '\033[1m==> %s\033[0m\n' "building the server (release)"
cargo build --release -p setpoint-server

exec "$target_dir/release/setpoint" serve --console-dir dist --data "${SETPOINT_DATA:-./data}"
