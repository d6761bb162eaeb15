#!/usr/bin/env bash
# Prints the SDK's figures (crates/client/benches/client.rs) beside its peer
# run in the same minute: OpenFeature's flagd-core (npm) evaluating the same
# flag in Node (bench/flagd-core/eval.mjs), and the ratio. Not a test: it
# asserts nothing but that both place the benchmark's user in the same
# variant. Targets are in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."

(cd bench/flagd-core && npm ci --no-audit --no-fund --silent)
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cargo bench -q -p setpoint-client --bench client 2>/dev/null | tee "$out"
printf '\n==> flagd-core %s, Node %s\n' \
  "$(node -p 'require("./bench/flagd-core/node_modules/@openfeature/flagd-core/package.json").version')" \
  "$(node --version)"
node bench/flagd-core/eval.mjs 2000000 | tee -a "$out"

python3 - "$out" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
units = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
def criterion(name):
    # "time:   [low unit median unit high unit]": the median.
    at = text.index(name)
    value, unit = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+)", text[at:]).groups()
    return float(value) * units[unit]
setpoint = criterion("evaluate 3 rules + 3-way split (string)")
flagd = json.loads([l for l in text.splitlines() if l.startswith('{"value"')][-1])
assert flagd["value"] == "checkout-c", f"flagd-core placed the user in {flagd['value']}"
print(f"\nsame flag, same context, same variant (checkout-c):")
print(f"  setpoint-client  {setpoint:8.1f} ns per evaluation")
print(f"  flagd-core       {flagd['ns']:8.1f} ns per evaluation")
print(f"  flagd-core / setpoint-client = {flagd['ns'] / setpoint:.1f}x")
PY
