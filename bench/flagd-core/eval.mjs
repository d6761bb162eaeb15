// The peer of crates/client/benches/client.rs: OpenFeature's flagd-core
// evaluating the same flag (crates/client/benches/flag.json) in-process.
// flagd has no regex operator: the third rule is `ends_with`, which is
// cheaper than Setpoint's `matches`, so the comparison favours flagd.
import { readFileSync } from "node:fs";
import { FlagdCore } from "@openfeature/flagd-core";

const fixture = JSON.parse(
  readFileSync(new URL("../../crates/client/benches/flag.json", import.meta.url)),
);
const flags = {
  flags: {
    "checkout-flow": {
      state: "ENABLED",
      defaultVariant: "a",
      variants: fixture.flag.variants,
      targeting: {
        if: [
          { in: [{ var: "country" }, ["NL", "BE", "LU", "DE", "FR"]] }, "b",
          { sem_ver: [{ var: "version" }, ">=", "5.0.0"] }, "c",
          { ends_with: [{ var: "email" }, "@staff.example.com"] }, "c",
          { fractional: [["a", 34], ["b", 33], ["c", 33]] },
        ],
      },
    },
  },
};
const silent = { error() {}, warn() {}, info() {}, debug() {} };
const core = new FlagdCore(undefined, silent);
core.setConfigurations(JSON.stringify(flags));
const context = fixture.context;
const evaluate = () => core.resolveStringEvaluation("checkout-flow", "none", context, silent);

const first = evaluate();
const runs = Number(process.argv[2] ?? 1_000_000);
for (let i = 0; i < runs / 10; i++) evaluate(); // warm up the JIT
const batches = [];
for (let b = 0; b < 5; b++) {
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs / 5; i++) evaluate();
  batches.push(Number(process.hrtime.bigint() - started) / (runs / 5));
}
batches.sort((a, b) => a - b);
console.log(JSON.stringify({ value: first.value, reason: first.reason, ns: batches[2] }));
