//! `setpoint validate`, run as the real binary.

use std::process::Command;

fn setpoint() -> Command {
    Command::new(env!("CARGO_BIN_EXE_setpoint"))
}

#[test]
fn validate_passes_a_valid_file() {
    let output = setpoint()
        .args([
            "validate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/checkout.json"),
        ])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("checkout.json: ok"));
}

#[test]
fn validate_fails_and_lists_each_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.json");
    std::fs::write(
        &file,
        r#"{"service": "svc", "schema": {"n": {"type": "int", "max": 5, "default": 9}}, "values": {"qa": {"m": 1}}}"#,
    )
    .expect("write");
    let output = setpoint()
        .args(["validate", "--environments", "dev,prod"])
        .arg(&file)
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("schema.n.default: 9 is above the maximum 5 [above_max]"),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"values.qa: environment "qa" does not exist [unknown_environment]"#),
        "{stdout}"
    );
    assert!(
        stdout.contains("values.qa.m: key \"m\" is not in the schema [unknown_key]"),
        "{stdout}"
    );
    assert!(stdout.contains("3 problem(s)"), "{stdout}");
}

#[test]
fn validate_reports_unreadable_files() {
    let output = setpoint()
        .args(["validate", "/nonexistent/service.json", "--json"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(line["valid"], false);
}
