//! Whatever a source delivers, the client never panics, never swaps in
//! part of a snapshot, keeps its last good one and counts the refusal.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use serde_json::{Value, json};
use setpoint_client::{Breaker, Client, Flag, Key, Offered};
use setpoint_core::seal_parts;

use common::{checkout, sealed};

struct Checkout {
    client: Client,
    rps: Key<u32>,
    timeout: Key<Duration>,
    weights: Key<std::collections::BTreeMap<String, u8>>,
    flow: Flag<bool>,
    payments: Breaker,
}

/// A client holding the example at revision 5.
fn loaded() -> Checkout {
    let mut builder = Client::builder("checkout");
    let rps = builder.key("throttle.rps", 1u32);
    let timeout = builder.key("timeout", Duration::ZERO);
    let weights = builder.key("routing.weights", std::collections::BTreeMap::new());
    let flow = builder.flag("new-checkout-flow", false);
    let payments = builder.breaker("payments-provider");
    let client = builder.build().expect("builds");
    client.offer(&sealed(checkout(), 5), "test").expect("loads");
    Checkout {
        client,
        rps,
        timeout,
        weights,
        flow,
        payments,
    }
}

/// Everything a read can see, to compare before and after.
fn reads(c: &Checkout) -> (u64, u32, Duration, Vec<(String, u8)>, bool, bool) {
    let staff = json!({"email": "a@example.com"});
    let staff = staff.as_object().expect("object");
    (
        c.client.revision(),
        c.client.get(&c.rps),
        c.client.get(&c.timeout),
        c.client.get(&c.weights).into_iter().collect(),
        c.client.evaluate(&c.flow, staff),
        c.client.is_open(&c.payments),
    )
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        prop_oneof![Just("2s"), Just("on"), Just("off"), Just("soon")].prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Where in the service a mutation lands.
const PATHS: &[&[&str]] = &[
    &["config", "throttle.rps"],
    &["config", "timeout"],
    &["config", "routing.weights"],
    &["config", "routing.weights", "us-east"],
    &["config", "log.level"],
    &["flags", "new-checkout-flow", "variants", "on"],
    &["flags", "new-checkout-flow", "off"],
    &["flags", "new-checkout-flow", "rules"],
    &["flags", "new-checkout-flow", "enabled"],
    &["flags", "new-checkout-flow"],
    &["breakers", "payments-provider", "open"],
    &["breakers", "payments-provider"],
    &["breakers"],
];

/// The example with one place replaced (or removed, for `None`), sealed
/// with a checksum that holds: only the registration check stands between
/// it and the readers.
fn mutated(path: &[&str], replacement: Option<Value>, revision: u64) -> Vec<u8> {
    let mut service = serde_json::to_value(checkout()).expect("serializes");
    let (last, parents) = path.split_last().expect("a path");
    let mut at = &mut service;
    for part in parents {
        at = &mut at[*part];
    }
    match (at.as_object_mut(), replacement) {
        (Some(map), Some(value)) => {
            map.insert((*last).to_owned(), value);
        }
        (Some(map), None) => {
            map.remove(*last);
        }
        (None, _) => {}
    }
    let json = serde_json::to_vec(&service).expect("serializes");
    seal_parts("prod", revision, [("checkout", &json[..])]).json
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_change_nothing(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let c = loaded();
        let before = reads(&c);
        prop_assert!(c.client.offer(&bytes, "fuzz").is_err());
        prop_assert_eq!(reads(&c), before);
        prop_assert_eq!(c.client.status().failures.values().sum::<u64>(), 1);
    }

    #[test]
    fn arbitrary_json_changes_nothing(value in arbitrary_json()) {
        let c = loaded();
        let before = reads(&c);
        let bytes = serde_json::to_vec(&value).expect("serializes");
        prop_assert!(c.client.offer(&bytes, "fuzz").is_err());
        prop_assert_eq!(reads(&c), before);
    }

    #[test]
    fn a_sealed_mutation_is_taken_whole_or_not_at_all(
        path in prop::sample::select(PATHS),
        replacement in prop::option::weighted(0.8, arbitrary_json()),
        rps in 1u32..100_000,
    ) {
        let c = loaded();
        let before = reads(&c);
        // Two changes in one snapshot: rps (always valid) and the mutation.
        let mut bytes = mutated(path, replacement, 6);
        let mut value: Value = serde_json::from_slice(&bytes).expect("json");
        value["services"]["checkout"]["config"]["throttle.rps"] = json!(rps);
        let service = serde_json::to_vec(&value["services"]["checkout"]).expect("serializes");
        bytes = seal_parts("prod", 6, [("checkout", &service[..])]).json;
        match c.client.offer(&bytes, "fuzz") {
            Ok(offered) => {
                prop_assert_eq!(offered, Offered::Loaded(6));
                prop_assert_eq!(c.client.get(&c.rps), rps, "all of it");
            }
            Err(rejection) => {
                prop_assert_eq!(reads(&c), before.clone(), "none of it: {}", rejection);
                let failures = c.client.status().failures;
                prop_assert_eq!(failures.get(rejection.reason()), Some(&1));
            }
        }
    }
}
