#!/usr/bin/env bash
# Runs every check CI runs: formatting, lints, the core's purity, unit and
# property tests, server tests, the fuzz corpus replayed, browser tests in
# headless Chromium, end-to-end tests against the real server with the real
# release console, and schemathesis against the API's OpenAPI description.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
target_dir=${CARGO_TARGET_DIR:-target}
# CI builds a clean clone once: incremental caches would only cost disk
# (gigabytes of it) and time.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
export CHROMEDRIVER=/usr/bin/chromedriver

# Browsers, test servers and Alertmanager write their profiles and data
# under TMPDIR; a private one removed at exit keeps repeated runs from
# filling /tmp (a Chromium profile alone is ~80 MB).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

started=$SECONDS
step() {
  printf '\033[1m==> %s\033[0m (at %ds)\n' "$*" $((SECONDS - started))
}

step "cargo fmt --check"
cargo fmt --all --check

step "clippy, native"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy, console for wasm32 (browser tests compile only there)"
cargo clippy -p setpoint-console --all-targets --target wasm32-unknown-unknown --locked -- -D warnings

step "setpoint-core is pure and builds for wasm32"
cargo build -p setpoint-core --target wasm32-unknown-unknown --locked
impure=$(cargo tree -p setpoint-core -e normal --prefix none | grep -E '^(tokio|getrandom|rand|chrono|time|tracing|log|reqwest|mio) ' || true)
if [[ -n "$impure" ]]; then
  echo "setpoint-core must stay free of I/O, clocks, randomness and logging; it depends on:" >&2
  echo "$impure" >&2
  exit 1
fi

step "unit, property and server tests"
cargo test --workspace --locked

step "browser tests (wasm-bindgen-test, headless Chromium)"
TMPDIR="$scratch" cargo test -p setpoint-console --target wasm32-unknown-unknown --locked

step "end-to-end: release console + real server + Chromium"
PATH="$PWD/node_modules/.bin:$PATH" trunk build --release --offline
# The server is the `setpoint` binary `cargo test` built for the server's
# own tests: `cargo build -p setpoint-server` would build it again with
# the features of that one package (three and a half minutes on two
# cores), for the same code.
TMPDIR="$scratch" SETPOINT_BIN="$target_dir/debug/setpoint" SETPOINT_CONSOLE_DIR="$PWD/dist" node --test e2e/

step "schemathesis: generated requests from the OpenAPI description, as an admin and a scoped token"
TMPDIR="$scratch" scripts/schemathesis.sh "$target_dir/debug/setpoint" 25

step "all checks passed"
