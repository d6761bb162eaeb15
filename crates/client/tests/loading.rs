//! The lifecycle of a snapshot in the client: defaults first, then only
//! verified snapshots that match the registration, swapped in whole, in
//! revision order; a bounded history with a local rollback.

mod common;

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;
use setpoint_client::{
    BuildError, Client, ErrorCode, Json, Offered, ReadError, Reason, Rejection, RollbackError,
};
use setpoint_core::snapshot::{VerifyError, verify};

use common::{checkout, sealed};

/// The example with `key` set to `value`.
fn with_value(key: &str, value: serde_json::Value) -> setpoint_core::ServiceSnapshot {
    let mut service = checkout();
    service.config.insert(key.to_owned(), value);
    service
}

struct Checkout {
    client: Client,
    rps: setpoint_client::Key<u32>,
    timeout: setpoint_client::Key<Duration>,
    weights: setpoint_client::Key<BTreeMap<String, u8>>,
    new_flow: setpoint_client::Flag<bool>,
    payments: setpoint_client::Breaker,
}

fn checkout_client() -> Checkout {
    let mut builder = Client::builder("checkout");
    let rps = builder.key("throttle.rps", 500u32);
    let timeout = builder.key("timeout", Duration::from_secs(2));
    let weights = builder.key("routing.weights", BTreeMap::new());
    let new_flow = builder.flag("new-checkout-flow", false);
    let payments = builder.breaker("payments-provider");
    builder.environment("prod");
    Checkout {
        client: builder.build().expect("builds"),
        rps,
        timeout,
        weights,
        new_flow,
        payments,
    }
}

fn context(value: serde_json::Value) -> setpoint_client::Context {
    match value {
        serde_json::Value::Object(map) => map,
        _ => panic!("a context is an object"),
    }
}

#[test]
fn before_any_snapshot_every_read_is_its_default() {
    let c = checkout_client();
    assert_eq!(c.client.get(&c.rps), 500);
    assert_eq!(c.client.get(&c.timeout), Duration::from_secs(2));
    assert!(c.client.get(&c.weights).is_empty());
    let staff = context(json!({"email": "a@example.com"}));
    assert!(!c.client.evaluate(&c.new_flow, &staff));
    let details = c.client.details(&c.new_flow, &staff);
    assert_eq!(
        (details.value, details.reason, details.error),
        (false, Reason::Error, Some(ErrorCode::ProviderNotReady))
    );
    assert!(!c.client.is_open(&c.payments));
    assert_eq!(c.client.revision(), 0);
    assert_eq!(c.client.export(), None);
    assert_eq!(c.client.status().current, None);
}

#[test]
fn a_good_snapshot_is_read_typed() {
    let c = checkout_client();
    assert_eq!(
        c.client.offer(&sealed(checkout(), 7), "test"),
        Ok(Offered::Loaded(7))
    );
    assert_eq!(c.client.get(&c.rps), 2000);
    assert_eq!(c.client.get(&c.timeout), Duration::from_secs(2));
    assert_eq!(c.client.get(&c.weights)["us-east"], 60);
    let staff = context(json!({"email": "a@example.com"}));
    let details = c.client.details(&c.new_flow, &staff);
    assert_eq!(
        (details.value, details.variant.as_deref(), details.reason),
        (true, Some("on"), Reason::TargetingMatch)
    );
    assert_eq!(details.revision, 7);
    assert!(
        !c.client
            .evaluate(&c.new_flow, &context(json!({"country": "US"})))
    );
    assert_eq!(c.client.config::<u32>("throttle.rps"), Ok(2000));
    let view = c.client.view();
    assert_eq!(view.raw("log.level"), Some(&json!("info")));
}

#[test]
fn a_deleted_service_is_still_read_and_its_tombstone_reported() {
    let c = checkout_client();
    let mut deleted = checkout();
    let tombstone = setpoint_client::Tombstone {
        tombstoned_at: "2026-12-01T10:00:00Z".into(),
        reclaim_at: "2026-12-08T10:00:00Z".into(),
    };
    deleted.tombstone = Some(tombstone.clone());
    assert_eq!(
        c.client.offer(&sealed(deleted, 8), "test"),
        Ok(Offered::Loaded(8))
    );
    assert_eq!(c.client.get(&c.rps), 2000, "its last config");
    assert_eq!(c.client.status().tombstone, Some(tombstone));

    assert_eq!(
        c.client.offer(&sealed(checkout(), 9), "test"),
        Ok(Offered::Loaded(9))
    );
    assert_eq!(c.client.status().tombstone, None, "restored");
}

#[test]
fn reading_by_name_is_a_clear_error_when_not_registered_so() {
    let c = checkout_client();
    assert_eq!(
        c.client.config::<u32>("throttle.burst"),
        Err(ReadError::Undeclared("throttle.burst".into()))
    );
    assert!(matches!(
        c.client.config::<String>("throttle.rps"),
        Err(ReadError::WrongType { registered: "u32", asked, .. }) if asked.contains("String")
    ));
}

#[test]
fn a_name_registered_twice_refuses_to_build() {
    let mut builder = Client::builder("checkout");
    builder.key("throttle.rps", 1u32);
    builder.key("throttle.rps", 1u64);
    assert_eq!(
        builder.build().err(),
        Some(BuildError::Duplicate {
            kind: "key",
            name: "throttle.rps".into()
        })
    );
}

#[test]
fn a_checksummed_snapshot_with_a_wrongly_typed_key_is_refused_whole() {
    let c = checkout_client();
    c.client
        .offer(&sealed(checkout(), 7), "test")
        .expect("loads");
    // The checksum is right; the registration is not met: rps is a string
    // and so the whole snapshot, with its other new values, is refused.
    let mut bad = with_value("throttle.rps", json!("fast"));
    bad.config.insert("timeout".into(), json!("9s"));
    let refused = c.client.offer(&sealed(bad, 8), "test");
    assert!(matches!(
        &refused,
        Err(Rejection::Type { kind: "key", name, found, .. }) if name == "throttle.rps" && found == "\"fast\""
    ));
    assert_eq!(c.client.get(&c.rps), 2000);
    assert_eq!(
        c.client.get(&c.timeout),
        Duration::from_secs(2),
        "no partial swap"
    );
    assert_eq!(c.client.revision(), 7);
    let status = c.client.status();
    assert_eq!(status.failures.get("type"), Some(&1));
    assert!(status.last_failure.expect("noted").contains("throttle.rps"));
}

#[test]
fn each_kind_of_bad_payload_is_refused_with_its_reason() {
    let c = checkout_client();
    let good = sealed(checkout(), 3);
    let mut tampered = good.clone();
    let at = tampered
        .windows(4)
        .position(|w| w == b"2000")
        .expect("rps in the bytes");
    tampered[at] = b'9';
    let mut flagless = checkout();
    flagless.flags.clear();
    let mut breakerless = checkout();
    breakerless.breakers.clear();
    let mut stringly = checkout();
    stringly
        .flags
        .get_mut("new-checkout-flow")
        .expect("flag")
        .variants
        .insert("on".into(), json!("yes"));
    let staging = setpoint_core::Snapshot {
        environment: "staging".into(),
        revision: 3,
        services: [("checkout".to_string(), checkout())].into(),
    }
    .seal()
    .json;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not JSON", b"{\"checksum\":".to_vec(), "parse"),
        ("tampered", tampered, "checksum"),
        (
            "no checksum",
            br#"{"environment":"prod"}"#.to_vec(),
            "checksum",
        ),
        ("another environment", staging, "environment"),
        (
            "another service",
            common::sealed_as("search", checkout(), 3),
            "service",
        ),
        ("a registered flag missing", sealed(flagless, 3), "missing"),
        (
            "a registered breaker missing",
            sealed(breakerless, 3),
            "missing",
        ),
        ("a flag of strings for a bool", sealed(stringly, 3), "type"),
    ];
    for (what, bytes, reason) in cases {
        let refused = c.client.offer(&bytes, "test").expect_err(what);
        assert_eq!(refused.reason(), reason, "{what}: {refused}");
        assert_eq!(c.client.revision(), 0, "{what} changed nothing");
    }
    assert_eq!(c.client.status().failures.values().sum::<u64>(), 8);
    assert!(matches!(
        c.client.offer(b"[]", "test"),
        Err(Rejection::Unverified(VerifyError::NoChecksum))
    ));
}

#[test]
fn revisions_only_move_forward() {
    let c = checkout_client();
    c.client
        .offer(&sealed(with_value("throttle.rps", json!(900)), 9), "test")
        .expect("loads");
    assert_eq!(
        c.client.offer(&sealed(checkout(), 8), "test"),
        Ok(Offered::Stale {
            held: 9,
            offered: 8
        })
    );
    assert_eq!(c.client.get(&c.rps), 900);
    assert_eq!(
        c.client
            .offer(&sealed(with_value("throttle.rps", json!(900)), 9), "again"),
        Ok(Offered::Unchanged(9))
    );
    assert_eq!(
        c.client.history().len(),
        1,
        "the same snapshot is kept once"
    );
}

#[tokio::test]
async fn subscribers_see_each_swap() {
    let c = checkout_client();
    let mut changes = c.client.subscribe();
    c.client
        .offer(&sealed(checkout(), 4), "test")
        .expect("loads");
    tokio::time::timeout(Duration::from_secs(5), changes.changed())
        .await
        .expect("notified")
        .expect("open");
    assert_eq!(*changes.borrow_and_update(), 4);
}

#[test]
fn rollback_pins_an_earlier_snapshot_until_resume_or_a_newer_one() {
    let mut builder = Client::builder("checkout");
    let rps = builder.key("throttle.rps", 1u32);
    builder.history(3);
    let client = builder.build().expect("builds");
    for (revision, value) in [(1, 100), (2, 200), (3, 300), (4, 400)] {
        client
            .offer(
                &sealed(with_value("throttle.rps", json!(value)), revision),
                "test",
            )
            .expect("loads");
    }
    let history = client.history();
    assert_eq!(
        history.iter().map(|h| h.revision).collect::<Vec<_>>(),
        [2, 3, 4],
        "bounded, oldest first"
    );
    assert_eq!(
        client.rollback(3),
        Err(RollbackError {
            asked: 3,
            available: 2
        })
    );
    assert_eq!(client.rollback(2).expect("rolls back").revision, 2);
    assert_eq!(client.get(&rps), 200);
    assert!(client.status().pinned);
    // A resync of what is already the newest does not undo the rollback.
    client
        .offer(&sealed(with_value("throttle.rps", json!(400)), 4), "test")
        .expect("checks");
    assert_eq!(client.get(&rps), 200);
    client.resume();
    assert_eq!(client.get(&rps), 400);
    client.rollback(1).expect("rolls back");
    assert_eq!(client.get(&rps), 300);
    client
        .offer(&sealed(with_value("throttle.rps", json!(500)), 5), "test")
        .expect("loads");
    assert_eq!(client.get(&rps), 500, "a newer snapshot ends the rollback");
    assert!(!client.status().pinned);
}

#[test]
fn export_is_a_sealed_snapshot_of_the_service() {
    let c = checkout_client();
    c.client
        .offer(&sealed(checkout(), 12), "test")
        .expect("loads");
    let exported = c.client.export().expect("a snapshot");
    let snapshot = verify(&exported).expect("verifies on its own");
    assert_eq!(
        (snapshot.revision, snapshot.environment.as_str()),
        (12, "prod")
    );
    assert_eq!(snapshot.services["checkout"], checkout());
}

#[test]
fn the_cache_is_where_a_restarted_client_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cache").join("checkout.json");
    let build = || {
        let mut builder = Client::builder("checkout");
        let rps = builder.key("throttle.rps", 1u32);
        builder.cache(&path);
        (builder.build().expect("builds"), rps)
    };
    let (first, rps) = build();
    assert_eq!(first.get(&rps), 1);
    first
        .offer(&sealed(with_value("throttle.rps", json!(4242)), 6), "test")
        .expect("loads");
    drop(first);
    let (restarted, rps) = build();
    assert_eq!(restarted.get(&rps), 4242);
    let current = restarted.status().current.expect("loaded");
    assert_eq!(current.revision, 6);
    assert!(current.source.starts_with("cache:"), "{}", current.source);

    std::fs::write(&path, b"garbage").expect("writes");
    let (from_garbage, rps) = build();
    assert_eq!(
        from_garbage.get(&rps),
        1,
        "a bad cache is refused: defaults"
    );
    assert_eq!(from_garbage.status().failures.get("parse"), Some(&1));
}

#[test]
fn flags_by_name_follow_openfeature() {
    let c = checkout_client();
    let none = context(json!({}));
    let early = c.client.flag("new-checkout-flow", true, &none);
    assert_eq!(early.error, Some(ErrorCode::ProviderNotReady));
    c.client
        .offer(&sealed(checkout(), 2), "test")
        .expect("loads");
    let missing = c.client.flag("no-such-flag", true, &none);
    assert_eq!(
        (missing.value, missing.reason, missing.error),
        (true, Reason::Error, Some(ErrorCode::FlagNotFound))
    );
    let mismatch = c.client.flag("new-checkout-flow", 7i64, &none);
    assert_eq!(
        (mismatch.value, mismatch.error),
        (7, Some(ErrorCode::TypeMismatch))
    );
    let benelux = context(json!({"country": "NL"}));
    let split = c.client.flag("new-checkout-flow", false, &benelux);
    assert_eq!(split.error, Some(ErrorCode::TargetingKeyMissing));
    let placed = c.client.flag(
        "new-checkout-flow",
        json!(null),
        &context(json!({"country": "NL", "targetingKey": "u-1"})),
    );
    assert_eq!(placed.reason, Reason::Split);
    assert!(placed.value.is_boolean());
}

#[test]
fn json_keys_read_as_structs() {
    #[derive(Debug, Clone, PartialEq, serde::Deserialize)]
    struct Retry {
        attempts: u8,
        backoff: String,
    }
    let mut builder = Client::builder("checkout");
    let retry = builder.key(
        "retry.policy",
        Json(Retry {
            attempts: 1,
            backoff: "none".into(),
        }),
    );
    let client = builder.build().expect("builds");
    client.offer(&sealed(checkout(), 1), "test").expect("loads");
    assert_eq!(
        client.get(&retry).0,
        Retry {
            attempts: 3,
            backoff: "exponential".into()
        }
    );
}

#[test]
fn a_handle_of_another_client_reads_its_own_default() {
    let mut other = Client::builder("checkout");
    let foreign = other.key("throttle.rps", 7u32);
    let c = checkout_client();
    c.client
        .offer(&sealed(checkout(), 1), "test")
        .expect("loads");
    assert_eq!(c.client.get(&foreign), 7);
}
