#!/usr/bin/env bash
# Runs the fuzz targets (crates/fuzz/targets) with cargo-fuzz on the
# nightly toolchain, each for a number of executions, and keeps any crash.
#
#   scripts/fuzz.sh                      every target, 10 million runs each
#   scripts/fuzz.sh document 1000000     one target, a million runs
#
# New inputs go to a scratch corpus under target/fuzz-corpus/ (the seeds in
# crates/fuzz/corpus/ are only read); a crash is written to
# crates/fuzz/regressions/<target>/, which the test command replays. The
# figures of the documented runs are in docs/reliability.md.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(document evaluate snapshot alertmanager writes)
[[ $# -ge 1 ]] && targets=("$1")
runs=${2:-10000000}

if ! command -v cargo-fuzz >/dev/null; then
  cargo install --locked cargo-fuzz --version 0.13.2
fi

for target in "${targets[@]}"; do
  scratch="target/fuzz-corpus/$target"
  crashes="crates/fuzz/regressions/$target"
  mkdir -p "$scratch" "$crashes"
  printf '\033[1m==> fuzz %s (%s runs)\033[0m\n' "$target" "$runs"
  # One job per target: the machine's other core builds and serves.
  cargo +nightly fuzz run --fuzz-dir crates/fuzz/targets "$target" \
    "$scratch" "crates/fuzz/corpus/$target" -- \
    -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
    -artifact_prefix="$crashes/" -print_final_stats=1
done
