//! The `setpoint` binary: validate, plan, apply, sync, export, import,
//! verify, backups.

mod common;

use std::{process::Command, time::Duration};

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
            Duration::from_secs(30),
            &format!("a backup named *{name}"),
            || async { kept().last().is_some_and(|newest| newest.ends_with(&name)) },
        )
        .await;
    }
    // The oldest goes just after the newest is renamed into place.
    eventually(Duration::from_secs(30), "two backups kept", || async {
        kept().len() == 2
    })
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
    // The whole output, golden: checkout was made by the demo, not from
    // files, so changing it is a conflict.
    assert_eq!(
        stdout,
        format!(
            "+ ledger (ledger.yaml): create\n\
             ~ checkout (payments/checkout.json): change\n\
             \x20   ! conflict: not managed by files\n\
             \x20   ~ values.prod[\"throttle.rps\"]: {before} -> 777\n\
             Plan: 1 to create, 1 to change, 0 to restore, 0 to tombstone, 0 to adopt, 0 unchanged; \
             1 conflict(s): apply refuses them without --force.\n"
        )
    );
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
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "= checkout (payments/checkout.json): record as managed by this file\n\
         Plan: 0 to create, 0 to change, 0 to restore, 0 to tombstone, 1 to adopt, 0 unchanged.\n",
        "only the record that files manage it is left to write"
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

/// Makes `dir` a git checkout with everything in it committed.
fn commit_all(dir: &std::path::Path) {
    let git = |args: &[&str]| {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .status()
            .expect("git runs");
        assert!(status.success(), "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "."]);
    git(&["commit", "-qm", "files"]);
}

/// A team's folder of one service, `ledger` with `n` at `n`.
fn ledger(n: u64) -> String {
    SEARCH_YAML
        .replace("service: search", "service: ledger")
        .replace("n: 4", &format!("n: {n}"))
}

/// `setpoint apply` on a folder in a git checkout, against a real server.
#[tokio::test(flavor = "multi_thread")]
async fn apply_names_its_git_source_and_a_second_apply_changes_nothing() {
    let central = common::parts::Central::start().await;
    let dir = folder(&[("team/ledger.yaml", &ledger(4))]);
    let files = dir.path().join("team");
    commit_all(&files);
    let run = |command: &str, extra: &[&str]| {
        setpoint()
            .arg(command)
            .arg(&files)
            .args(["--server", &central.url(), "--token", &central.admin])
            .args(extra)
            .output()
            .expect("runs")
    };

    let first = run("apply", &[]);
    assert_eq!(first.status.code(), Some(0), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("+ ledger (ledger.yaml): create"),
        "{stdout}"
    );
    let log = central.get("/api/v1/changes?service=ledger").await;
    let reason = log["changes"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with("apply team at git:"),
        "the set is the folder's name, the source its commit: {reason}"
    );
    assert!(!reason.contains("dirty"), "{reason}");

    let second = run("apply", &[]);
    assert_eq!(second.status.code(), Some(0), "{second:?}");
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("Nothing applied."),
        "{second:?}"
    );
    assert_eq!(run("plan", &[]).status.code(), Some(0), "nothing to do");
}

/// `setpoint sync --watch` against a real server: each edit applied within
/// seconds (the time is printed), a broken file held, a removed one
/// tombstoned.
#[tokio::test(flavor = "multi_thread")]
async fn sync_watch_applies_each_edit_within_seconds_and_holds_a_broken_file() {
    let central = common::parts::Central::start().await;
    let dir = folder(&[("team/ledger.yaml", &ledger(4))]);
    let files = dir.path().join("team");
    let snapshot_n = || async {
        central
            .get("/api/v1/environments/prod/snapshot/ledger")
            .await["services"]["ledger"]["config"]["n"]
            .as_u64()
    };
    // Killed when dropped, should an assertion fail first.
    let _sync = common::parts::Running(
        setpoint()
            .arg("sync")
            .arg(&files)
            .args([
                "--server",
                &central.url(),
                "--token",
                &central.admin,
                "--watch",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("sync starts"),
    );
    common::parts::eventually(Duration::from_secs(20), "the first pass", || async {
        snapshot_n().await == Some(4)
    })
    .await;
    // An edit reaches the snapshot within seconds.
    let started = std::time::Instant::now();
    std::fs::write(files.join("ledger.yaml"), ledger(5)).expect("edit");
    common::parts::eventually(Duration::from_secs(20), "the edit applied", || async {
        snapshot_n().await == Some(5)
    })
    .await;
    println!(
        "sync --watch: file written to snapshot served in {} ms",
        started.elapsed().as_millis()
    );

    // A broken file is reported and changes nothing; its service stays.
    std::fs::write(files.join("ledger.yaml"), "service: ledger\nschema: [").expect("break");
    std::fs::write(
        files.join("other.yaml"),
        SEARCH_YAML.replace("service: search", "service: other"),
    )
    .expect("add");
    common::parts::eventually(Duration::from_secs(20), "the good file applied", || async {
        central.get("/api/v1/services/other").await["doc"]["service"] == "other"
    })
    .await;
    let served = central
        .get("/api/v1/environments/prod/snapshot/ledger")
        .await;
    assert_eq!(served["services"]["ledger"]["config"]["n"], 5, "{served}");
    assert!(
        served["services"]["ledger"]["tombstone"].is_null(),
        "held, not tombstoned: {served}"
    );

    // Fixed, it applies again; removed, it is tombstoned and still served.
    std::fs::write(files.join("ledger.yaml"), ledger(3)).expect("fix");
    common::parts::eventually(Duration::from_secs(20), "the fix applied", || async {
        snapshot_n().await == Some(3)
    })
    .await;
    std::fs::remove_file(files.join("ledger.yaml")).expect("remove");
    common::parts::eventually(Duration::from_secs(20), "the removal applied", || async {
        let served = central
            .get("/api/v1/environments/prod/snapshot/ledger")
            .await;
        served["services"]["ledger"]["tombstone"].is_object()
    })
    .await;
}
