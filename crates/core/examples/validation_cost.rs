//! Prints what validating the costliest documents the limits allow takes:
//! the figures behind the pattern budget (docs/security.md).
//!
//!     cargo run --release -p setpoint-core --example validation_cost

use std::time::Instant;

use serde_json::json;
use setpoint_core::{Limits, ServiceDoc, validate_document};

/// A document of `keys` `json` keys, each checking `strings` strings of
/// `length` characters against `pattern`. The text is runs of `ax` broken
/// every 201 characters, so `(?:[a-z]x){128}` nearly matches everywhere
/// and never does: the worst case for the matcher.
fn document(pattern: &str, keys: usize, strings: usize, length: usize) -> ServiceDoc {
    let text: String = "ax"
        .repeat(100)
        .chars()
        .chain(['Y'])
        .cycle()
        .take(length)
        .collect();
    let schema: serde_json::Map<String, serde_json::Value> = (0..keys)
        .map(|i| {
            let key = json!({
                "type": "json",
                "schema": {"type": "array", "items": {"type": "string", "pattern": pattern}},
                "default": vec![text.clone(); strings],
            });
            (format!("list{i}"), key)
        })
        .collect();
    serde_json::from_value(json!({"service": "costly", "schema": schema})).expect("a document")
}

fn main() {
    let limits = Limits::default();
    // (what, pattern, keys, strings per key, characters per string)
    let cases = [
        (
            "the review's pattern, 400 strings (refused)",
            "x{1000}{250}",
            1,
            400,
            1000,
        ),
        (
            "largest accepted pattern, 8 KB of text",
            "(?:[a-z]x){128}",
            1,
            8,
            1_000,
        ),
        (
            "largest accepted pattern, 60 KB of text",
            "(?:[a-z]x){128}",
            1,
            1,
            60_000,
        ),
        (
            "mid-sized pattern, 60 KB of text",
            "(?:[a-z]x){24}",
            1,
            1,
            60_000,
        ),
        (
            "mid-sized pattern, 960 KB of text",
            "(?:[a-z]x){24}",
            16,
            1,
            60_000,
        ),
        ("small pattern, 960 KB of text", "^[a-z]+$", 16, 1, 60_000),
    ];
    for (what, pattern, keys, strings, length) in cases {
        let doc = document(pattern, keys, strings, length);
        let started = Instant::now();
        let violations = validate_document(&doc, &limits);
        let codes: std::collections::BTreeSet<&str> = violations
            .iter()
            .map(setpoint_core::Violation::code)
            .collect();
        println!(
            "{what:<45} {:>8.1} ms  {codes:?}",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
