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

/// Writes `files` (path under the folder, text) into a new folder.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

const SEARCH_YAML: &str = "service: search\nschema:\n  n:\n    type: int\n    default: 1\n    max: 5\nvalues:\n  prod:\n    n: 4\n";

#[test]
fn validate_passes_a_folder_of_json_and_yaml_documents_named_for_their_services() {
    let checkout = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/checkout.json"
    ))
    .expect("the example");
    let dir = folder(&[
        ("payments/checkout.json", &checkout),
        ("search.yaml", SEARCH_YAML),
        (".git/config.json", "not a document"),
        ("README.md", "not a document either"),
    ]);
    let output = setpoint()
        .args(["validate", "--environments", "dev,staging,prod"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("payments/checkout.json: ok"), "{stdout}");
    assert!(stdout.contains("search.yaml: ok"), "{stdout}");
    assert_eq!(
        stdout.lines().count(),
        2,
        "hidden and other files skipped: {stdout}"
    );
}

#[test]
fn validate_checks_a_folder_across_files_with_file_and_field_paths() {
    let dir = folder(&[
        ("a/search.yaml", SEARCH_YAML),
        ("b/search.json", r#"{"service": "search", "schema": {}}"#),
        ("checkout.json", r#"{"service": "payments", "schema": {}}"#),
        (
            "limits.yml",
            "service: limits\nschema:\n  n: {type: int, default: 9, max: 5}\n",
        ),
        ("broken.yaml", "service: [unclosed\n"),
    ]);
    let output = setpoint()
        .arg("validate")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        r#"a/search.yaml: service: "search" is also defined in b/search.json [claimed_twice]"#,
        r#"b/search.json: service: "search" is also defined in a/search.yaml [claimed_twice]"#,
        r#"checkout.json: service: the file is named for "checkout" but defines "payments": name each file for its service [name_not_file]"#,
        "limits.yml: schema.n.default: 9 is above the maximum 5 [above_max]",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.yaml: not valid YAML"), "{stderr}");

    let json = setpoint()
        .args(["validate", "--json"])
        .arg(dir.path())
        .output()
        .expect("runs");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 5, "every file, the unreadable one too");
    let checkout = lines
        .iter()
        .find(|l| {
            l["file"]
                .as_str()
                .is_some_and(|f| f.ends_with("checkout.json"))
        })
        .expect("checkout.json reported");
    assert_eq!(checkout["valid"], false);
    assert_eq!(checkout["errors"][0]["code"], "name_not_file");
    assert_eq!(checkout["errors"][0]["path"], "service");
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

#[tokio::test(flavor = "multi_thread")]
async fn backups_are_written_rotated_and_restored_with_their_checksums_checked() {
    use common::parts::{Central, eventually};
    let backups = tempfile::tempdir().expect("tempdir");
    let dir = backups.path().to_str().expect("a UTF-8 path");
    let mut central = Central::new();
    central
        .restart(&[
            "--demo",
            "--backup-dir",
            dir,
            "--backup-every",
            "100ms",
            "--backup-keep",
            "2",
        ])
        .await;
    let kept = || {
        let mut names: Vec<String> = std::fs::read_dir(backups.path())
            .expect("the folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| {
                std::path::Path::new(name)
                    .extension()
                    .is_some_and(|e| e == "json")
            })
            .collect();
        names.sort();
        names
    };
    for rps in [101, 102, 103] {
        central.set_rps(rps).await;
        let revision = central.get("/api/v1/export").await["revision"].clone();
        let name = format!("-r{revision}.json");
        eventually(
            std::time::Duration::from_secs(30),
            &format!("a backup named *{name}"),
            || async { kept().last().is_some_and(|newest| newest.ends_with(&name)) },
        )
        .await;
    }
    // The oldest goes just after the newest is renamed into place.
    eventually(
        std::time::Duration::from_secs(30),
        "two backups kept",
        || async { kept().len() == 2 },
    )
    .await;
    let kept = kept();
    central.kill();

    // The older of the two, restored into an empty store, is that state.
    let older = backups.path().join(&kept[0]);
    let backup: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&older).expect("reads")).expect("an export");
    let restored = tempfile::tempdir().expect("tempdir");
    let restore = setpoint()
        .arg("restore-backup")
        .arg(&older)
        .arg("--data")
        .arg(restored.path())
        .output()
        .expect("runs");
    assert!(restore.status.success(), "{restore:?}");
    let export = setpoint()
        .args(["export", "--data"])
        .arg(restored.path())
        .output()
        .expect("runs");
    let export: serde_json::Value = serde_json::from_slice(&export.stdout).expect("an export");
    assert_eq!(export["services"], backup["services"]);
    let checkout = export["services"]
        .as_array()
        .and_then(|services| services.iter().find(|s| s["service"] == "checkout"))
        .expect("checkout restored");
    assert_eq!(checkout["values"]["prod"]["throttle.rps"], 102);

    // A damaged backup is refused before anything is opened.
    let newer = backups.path().join(&kept[1]);
    let mut bytes = std::fs::read(&newer).expect("reads");
    let last = bytes.len() - 2;
    bytes[last] = b' ';
    std::fs::write(&newer, bytes).expect("damages");
    let untouched = tempfile::tempdir().expect("tempdir");
    let refused = setpoint()
        .arg("restore-backup")
        .arg(&newer)
        .arg("--data")
        .arg(untouched.path())
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("checksum mismatch"),
        "{refused:?}"
    );
    assert!(
        !untouched.path().join("setpoint.db").exists(),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_shows_what_a_folder_would_create_and_change_and_changes_nothing() {
    let central = common::parts::Central::start().await;
    let export = central.get("/api/v1/export").await;
    let held = |name: &str| {
        export["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["service"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} on the demo server"))
    };
    let mut checkout = held("checkout");
    checkout["values"]["prod"]["throttle.rps"] = serde_json::json!(777);
    let dir = folder(&[
        ("payments/checkout.json", &checkout.to_string()),
        (
            "ledger.yaml",
            &SEARCH_YAML.replace("service: search", "service: ledger"),
        ),
    ]);
    let plan = |json: bool| {
        let mut command = setpoint();
        command.arg("plan").arg(dir.path()).args([
            "--server",
            &central.url(),
            "--token",
            &central.admin,
        ]);
        if json {
            command.arg("--json");
        }
        command.output().expect("runs")
    };

    let output = plan(false);
    assert_eq!(
        output.status.code(),
        Some(2),
        "changes to apply: {output:?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let before = held("checkout")["values"]["prod"]["throttle.rps"].clone();
    for expected in [
        "+ ledger (ledger.yaml): create".to_string(),
        "~ checkout (payments/checkout.json):".to_string(),
        format!(r#"    ~ values.prod["throttle.rps"]: {before} -> 777"#),
        "Plan: 1 to create, 1 to change, 0 unchanged.".to_string(),
    ] {
        assert!(stdout.contains(&expected), "{expected} in {stdout}");
    }
    let json: serde_json::Value =
        serde_json::from_slice(&plan(true).stdout).expect("one JSON object");
    assert_eq!(json["create"][0]["service"], "ledger");
    assert_eq!(
        json["change"][0]["diff"][0]["path"],
        r#"values.prod["throttle.rps"]"#
    );
    assert_eq!(
        central.get("/api/v1/export").await,
        export,
        "planning changed nothing"
    );

    // The folder as the server holds it: nothing to do.
    std::fs::write(
        dir.path().join("payments/checkout.json"),
        held("checkout").to_string(),
    )
    .expect("write");
    std::fs::remove_file(dir.path().join("ledger.yaml")).expect("remove");
    let output = plan(false);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("No changes: 1 service(s)"),
        "{output:?}"
    );

    // An invalid folder plans nothing.
    std::fs::write(dir.path().join("other.json"), held("checkout").to_string()).expect("write");
    let output = plan(false);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("[claimed_twice]"),
        "{output:?}"
    );
}
