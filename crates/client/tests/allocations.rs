//! The hot path allocates nothing: reading a config value, a breaker, and
//! evaluating a bool flag through rules and a split. Counted by dhat's
//! allocator over many reads, after one warm-up round: `arc-swap` sets up
//! its per-thread slots on a thread's first load, and regex-lite its
//! per-thread matching cache on a thread's first search.

use std::hint::black_box;

use serde_json::json;
use setpoint_client::Client;
use setpoint_core::{ServiceSnapshot, Snapshot};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[test]
fn reads_and_bool_flag_evaluations_allocate_nothing() {
    let _profiler = dhat::Profiler::builder()
        .testing()
        .file_name(std::env::temp_dir().join("setpoint-client-allocations.json"))
        .build();
    let service: ServiceSnapshot = serde_json::from_value(json!({
        "config": {"throttle.rps": 500},
        "flags": {"flow": {
            "variants": {"on": true, "off": false}, "off": "off", "salt": "flow", "enabled": true,
            "rules": [
                {"when": [{"attribute": "country", "op": "in", "values": ["NL", "BE"]}], "serve": {"variant": "on"}},
                {"when": [{"attribute": "version", "op": "semver_ge", "value": "5.0.0"}], "serve": {"variant": "on"}},
                {"when": [{"attribute": "email", "op": "matches", "value": "@(staff|ops)\\.example\\.com$"}], "serve": {"variant": "on"}}
            ],
            "default": {"split": {"weights": [{"variant": "on", "weight": 50}, {"variant": "off", "weight": 50}]}}
        }},
        "breakers": {"payments": {"open": true, "state": "open"}}
    }))
    .expect("a service");
    let mut builder = Client::builder("checkout");
    let rps = builder.key("throttle.rps", 1u32);
    let flow = builder.flag("flow", false);
    let payments = builder.breaker("payments");
    let client = builder.build().expect("builds");
    let sealed = Snapshot {
        environment: "prod".into(),
        revision: 1,
        services: [("checkout".to_string(), service)].into(),
    }
    .seal();
    client.offer(&sealed.json, "test").expect("loads");
    let contexts: Vec<_> = [
        json!({"targetingKey": "user-1", "country": "US", "version": "4.2.1", "email": "a@b.org"}),
        json!({"targetingKey": "user-2", "country": "NL"}),
        json!({"targetingKey": "user-3", "email": "x@ops.example.com"}),
    ]
    .into_iter()
    .map(|c| c.as_object().cloned().expect("object"))
    .collect();
    for context in &contexts {
        black_box(client.evaluate(&flow, context));
    }

    let before = dhat::HeapStats::get();
    let mut on = 0;
    for round in 0..1_000 {
        let context = &contexts[round % contexts.len()];
        on += usize::from(client.evaluate(&flow, black_box(context)));
        black_box(client.get(&rps));
        black_box(client.is_open(&payments));
    }
    let after = dhat::HeapStats::get();
    assert!(on > 0, "some evaluations served the on variant");
    dhat::assert_eq!(after.total_blocks, before.total_blocks);
}
