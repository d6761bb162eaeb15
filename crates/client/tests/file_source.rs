//! The file source against a real directory, written the way the agent
//! writes it (a temporary file renamed into place).

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use setpoint_client::{Client, FileSource, Key};

use common::{checkout, sealed};

fn rps(service_rps: u64, revision: u64) -> Vec<u8> {
    let mut service = checkout();
    service
        .config
        .insert("throttle.rps".into(), service_rps.into());
    sealed(service, revision)
}

/// Writes as the agent does: whole files appear by rename.
fn publish(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("creates");
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, bytes).expect("writes");
    std::fs::rename(&temp, path).expect("renames");
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn client(source: FileSource) -> (Client, Key<u32>) {
    let mut builder = Client::builder("checkout");
    let key = builder.key("throttle.rps", 1u32);
    builder.source(source);
    (builder.build().expect("builds"), key)
}

#[tokio::test]
async fn a_renamed_file_is_seen_by_its_watch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("prod/services/checkout.json");
    publish(&path, &rps(100, 1));
    // An hour between polls: only the watch can see the next change soon.
    let (client, key) =
        client(FileSource::agent(dir.path(), "prod", "checkout").poll(Duration::from_hours(1)));
    until("the first file loads", || client.get(&key) == 100).await;
    // Let the watch be set up (it is before the first read; this is for a
    // slow machine's inotify thread).
    publish(&path, &rps(200, 2));
    until("the renamed file loads", || client.get(&key) == 200).await;

    // Written in place, not renamed: the watch may also read the file
    // between truncation and write, and that torn read is refused too.
    std::fs::write(&path, b"{ half a file").expect("writes");
    until("the bad file is refused", || {
        client
            .status()
            .failures
            .get("parse")
            .is_some_and(|n| *n >= 1)
    })
    .await;
    assert_eq!(client.get(&key), 200, "the last good snapshot stays");
    let status = client.status();
    assert_eq!(status.current.expect("loaded").revision, 2);
    assert!(
        status
            .last_failure
            .as_deref()
            .is_some_and(|f| f.contains("file:")),
        "{:?}",
        status.last_failure
    );
}

#[tokio::test]
async fn a_directory_that_appears_later_is_found_by_polling() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (client, key) =
        client(FileSource::agent(dir.path(), "prod", "checkout").poll(Duration::from_millis(50)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(client.get(&key), 1, "defaults while there is no file");
    publish(
        &dir.path().join("prod/services/checkout.json"),
        &rps(300, 3),
    );
    until("the new file loads", || client.get(&key) == 300).await;
    let current = client.status().current.expect("loaded");
    assert!(current.source.starts_with("file:"), "{}", current.source);
}
