//! The golden evaluation vectors (crates/core/tests/vectors/evaluation.json,
//! shared with the core and the server) through the SDK: a snapshot of a
//! service holding every vector flag, each case evaluated by name.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use setpoint_client::{Client, Context, ErrorCode, Reason};
use setpoint_core::{Evaluation, ResolvedFlag, ServiceSnapshot, Snapshot};

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
        serde_json::from_str(include_str!("../../core/tests/vectors/evaluation.json"))
            .expect("vectors parse");
    let sealed = Snapshot {
        environment: "prod".into(),
        revision: 1,
        services: BTreeMap::from([(
            "vectors".to_string(),
            ServiceSnapshot {
                config: BTreeMap::new(),
                flags: vectors.flags.clone(),
                breakers: BTreeMap::new(),
                tombstone: None,
            },
        )]),
    }
    .seal();
    let client = Client::builder("vectors").build().expect("builds");
    client.offer(&sealed.json, "vectors").expect("loads");

    let mut failures = Vec::new();
    for case in &vectors.cases {
        // The caller's default, served on error: no vector's value is this.
        let default = Value::String("caller-default".into());
        let got = client.flag(&case.flag, default.clone(), &case.context);
        let expected_value = case.expect.value.clone().unwrap_or(default);
        let same = got.value == expected_value
            && got.variant == case.expect.variant
            && got.reason == case.expect.reason
            && got.error == case.expect.error;
        if !same {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
        // Typed reads agree: a bool flag read as bool gives the same
        // answer; read as a string it is a type mismatch, not a panic.
        if let Some(Value::Bool(expected)) = case.expect.value {
            let typed = client.flag(&case.flag, !expected, &case.context);
            assert_eq!(typed.value, expected, "{}", case.name);
            let wrong = client.flag(&case.flag, String::from("x"), &case.context);
            assert_eq!(
                (wrong.value.as_str(), wrong.reason, wrong.error),
                ("x", Reason::Error, Some(ErrorCode::TypeMismatch)),
                "{}",
                case.name
            );
        }
    }
    assert!(vectors.cases.len() >= 50);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
