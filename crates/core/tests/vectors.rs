//! Golden evaluation vectors: `vectors/evaluation.json` is shared with the
//! server and the SDK, so all of them agree on every case.

use std::collections::BTreeMap;

use serde::Deserialize;
use setpoint_core::{Context, Evaluation, ResolvedFlag, evaluate};

#[derive(Deserialize)]
struct Vectors {
    flags: BTreeMap<String, ResolvedFlag>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    flag: String,
    context: Context,
    expect: Evaluation,
}

#[test]
fn every_golden_vector_evaluates_as_recorded() {
    let vectors: Vectors =
        serde_json::from_str(include_str!("vectors/evaluation.json")).expect("vectors parse");
    assert!(
        vectors.cases.len() >= 50,
        "the issue asks for at least 50 cases"
    );
    let mut failures = Vec::new();
    for case in &vectors.cases {
        let flag = &vectors.flags[&case.flag];
        let got = evaluate(flag, &case.context);
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing vectors:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
