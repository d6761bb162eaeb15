#!/usr/bin/env bash
# Installs what building and testing Setpoint needs on a Debian machine with
# only package-registry access (see docs/development.md for why each tool is
# installed the way it is). Every step skips itself when already done.
#
#   scripts/setup.sh            tools to build and run
#   scripts/setup.sh --test     also Chromium, ChromeDriver, Prometheus
#                               Alertmanager, etcd and PostgreSQL for the
#                               end-to-end, delivery and replica tests, and
#                               schemathesis (PyPI) for the API
set -euo pipefail
cd "$(dirname "$0")/.."

TRUNK_VERSION=0.21.14
SPLIT_VERSION=0.2.4
with_tests=false
[[ "${1:-}" == "--test" ]] && with_tests=true

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

apt_updated=false
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  step "apt-get install ${missing[*]}"
  if ! $apt_updated; then as_root apt-get update -qq; apt_updated=true; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
# The breaker tests start their own Alertmanager, the delivery tests their
# own etcd, the replica tests their own PostgreSQL, each on free loopback
# ports.
$with_tests && apt_install chromium chromium-driver prometheus-alertmanager curl etcd-server postgresql nginx-light
# schemathesis drives the API from its OpenAPI description (scripts/schemathesis.sh).
if $with_tests && [[ "$(schemathesis --version 2>/dev/null)" != "schemathesis, version 4.32.5" ]]; then
  step "pip install schemathesis 4.32.5"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'schemathesis==4.32.5'
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  step "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
  # trunk 0.22 needs a newer rustc than 1.95. trunk only stages files and
  # runs our hook here, so its release profile's fat LTO buys nothing and
  # costs three minutes of build (figures in docs/development.md).
  step "cargo install trunk $TRUNK_VERSION (about 7 minutes, once)"
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install --locked trunk --version "$TRUNK_VERSION"
fi

# The CLI must match the wasm-bindgen library exactly; read it from the lock.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  step "cargo install wasm-bindgen-cli $bindgen_version (about 3 minutes, once)"
  # Its lock file names a webpki-roots release the registry mirror lacks.
  cargo install --locked wasm-bindgen-cli --version "$bindgen_version" ||
    cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

# The splitter cargo-leptos runs for `--split`, as a command: it cuts the
# console's wasm per page (scripts/console-wasm.sh). It prints no version,
# so ask cargo what it installed.
if ! cargo install --list | grep -qx "wasm_split_cli_support v$SPLIT_VERSION:"; then
  step "cargo install wasm_split_cli_support $SPLIT_VERSION (about 2 minutes, once)"
  cargo install --locked wasm_split_cli_support --version "$SPLIT_VERSION" --features build-binary
fi

# wasm-opt 132 from npm (Debian's 108 miscompiles wasm-bindgen output) and
# playwright-core (driver only; the browser is Debian's Chromium).
if [[ ! -x node_modules/.bin/wasm-opt || package-lock.json -nt node_modules/.setup-stamp ]]; then
  step "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch node_modules/.setup-stamp
fi
