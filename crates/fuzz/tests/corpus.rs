//! Replays the seed corpus and every crash the fuzzers ever found through
//! the harnesses, as ordinary tests: a regression shows in the test
//! command, without a nightly toolchain.

use std::path::Path;

/// Runs `harness` over every file in `corpus/<target>/` and
/// `regressions/<target>/`; returns how many there were.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(folder).join(target)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).expect("readable");
            eprintln!("{}", path.display());
            harness(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn document() {
    assert!(replay("document", setpoint_fuzz::document) > 0);
}

#[test]
fn evaluate() {
    assert!(replay("evaluate", setpoint_fuzz::evaluate) > 0);
}

#[test]
fn snapshot() {
    assert!(replay("snapshot", setpoint_fuzz::snapshot) > 0);
}

#[test]
fn alertmanager() {
    assert!(replay("alertmanager", setpoint_fuzz::alertmanager) > 0);
}

#[test]
fn writes() {
    assert!(replay("writes", setpoint_fuzz::writes) > 0);
}
