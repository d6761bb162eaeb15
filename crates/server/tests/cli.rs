//! The `setpoint` binary: validate, export, import, verify.

mod common;

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

#[test]
fn export_import_and_verify_offline_and_the_lock_keeps_two_writers_apart() {
    let source = tempfile::tempdir().expect("tempdir");
    // A demo server fills the source store, then stops.
    let (mut server, _) = common::start_server(source.path());

    let export = setpoint()
        .arg("export")
        .arg("--data")
        .arg(source.path())
        .output()
        .expect("export runs");
    assert!(export.status.success(), "{export:?}");
    let file = source.path().join("export.json");
    std::fs::write(&file, &export.stdout).expect("write");
    let while_running = setpoint()
        .arg("import")
        .arg(&file)
        .arg("--data")
        .arg(source.path())
        .output()
        .expect("runs");
    assert!(!while_running.status.success());
    assert!(
        String::from_utf8_lossy(&while_running.stderr)
            .contains("in use by a running setpoint server"),
        "{while_running:?}"
    );
    server.kill().expect("stop");
    server.wait().expect("reaped");

    let target = tempfile::tempdir().expect("tempdir");
    let import = setpoint()
        .arg("import")
        .arg(&file)
        .arg("--data")
        .arg(target.path())
        .output()
        .expect("import runs");
    assert!(import.status.success(), "{import:?}");
    assert!(
        String::from_utf8_lossy(&import.stdout).contains("imported: 9 change(s)"),
        "{import:?}"
    );
    let verify = setpoint()
        .arg("verify")
        .arg("--data")
        .arg(target.path())
        .output()
        .expect("verify runs");
    assert!(verify.status.success(), "{verify:?}");
    let exported_again = setpoint()
        .arg("export")
        .arg("--data")
        .arg(target.path())
        .output()
        .expect("export runs");
    let first: serde_json::Value = serde_json::from_slice(&export.stdout).expect("json");
    let second: serde_json::Value = serde_json::from_slice(&exported_again.stdout).expect("json");
    assert_eq!(first["services"], second["services"]);
}
