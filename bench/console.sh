#!/usr/bin/env bash
# Prints the console's budget figures (issues 4 and 22): bytes over the
# wire and requests per page, cold load to interactive in headless
# Chromium, and per-keystroke filtering of 2,000 services — against the
# release server and the release console.
# Not a test: it asserts nothing. Targets are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test >/dev/null
target_dir=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p setpoint-server --bin setpoint
PATH="$PWD/node_modules/.bin:$PATH" trunk build --release --offline >/dev/null 2>&1
SETPOINT_BIN="$target_dir/release/setpoint" SETPOINT_CONSOLE_DIR="$PWD/dist" RUST_LOG=warn \
  node bench/console.mjs
