//! Properties that must hold for every input, not just the examples.

use proptest::prelude::*;
use serde_json::{Value, json};
use setpoint_core::{
    Limits, Weighted, check_document, eval::pick, evaluate, parse_document, validate_document,
};

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("30s"),
            Just("1h30m"),
            Just("NL"),
            Just("1.2.3"),
            Just("2026-03-01T00:00:00Z"),
            Just("("),
            Just("on"),
            Just("off"),
            Just("targetingKey"),
            Just("alertname=X"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,6}".boxed(),
                    prop_oneof![
                        Just("type"),
                        Just("default"),
                        Just("min"),
                        Just("max"),
                        Just("variant"),
                        Just("split"),
                        Just("weights"),
                        Just("weight"),
                        Just("op"),
                        Just("value"),
                        Just("values"),
                    ]
                    .prop_map(String::from)
                    .boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "bool", "int", "float", "string", "duration", "percent", "weights", "json", "ref",
    ])
}

fn op() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        setpoint_core::Op::ALL
            .iter()
            .map(|op| op.as_str())
            .collect::<Vec<_>>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn validation_never_panics_on_arbitrary_json(doc in arbitrary_json()) {
        let _ = check_document(&doc.to_string(), &Limits::default());
    }

    #[test]
    fn validation_never_panics_on_document_shaped_json(
        kind in kind(),
        default in arbitrary_json(),
        min in arbitrary_json(),
        max in arbitrary_json(),
        value in arbitrary_json(),
        schema in arbitrary_json(),
        op in op(),
        operand in arbitrary_json(),
        context_value in arbitrary_json(),
    ) {
        let doc = json!({
            "service": "svc",
            "schema": {
                "k": {"type": kind, "default": default.clone(), "min": min, "max": max},
                "j": {"type": "json", "schema": schema, "default": default},
            },
            "values": {"prod": {"k": value.clone(), "j": value}},
            "flags": {"f": {
                "variants": {"a": 1, "b": 2},
                "off": "a",
                "environments": {"prod": {
                    "enabled": true,
                    "rules": [{"when": [{"attribute": "x", "op": op, "value": operand.clone()},
                                        {"attribute": "y", "op": op, "values": [operand]}],
                               "serve": {"variant": "b"}}],
                    "default": {"split": {"weights": [{"variant": "a", "weight": 50}, {"variant": "b", "weight": 50}]}}
                }}
            }}
        });
        let _ = check_document(&doc.to_string(), &Limits::default());
        // Evaluation must not panic either, valid flag or not.
        if let Ok(parsed) = parse_document(&doc.to_string()) {
            let _ = validate_document(&parsed, &Limits::default());
            let flag = parsed.flags["f"].resolve("f", "prod");
            let context = json!({"x": context_value.clone(), "y": context_value, "targetingKey": "u"});
            let _ = evaluate(&flag, context.as_object().expect("object"));
        }
    }
}

fn weights(shares: &[u32]) -> Vec<Weighted> {
    shares
        .iter()
        .enumerate()
        .map(|(i, w)| Weighted {
            variant: format!("v{i}"),
            weight: *w,
        })
        .collect()
}

/// Splits 100 into `n` shares from `cuts`.
fn shares_from(cuts: &[u32]) -> Vec<u32> {
    let mut points: Vec<u32> = cuts.iter().map(|c| c % 101).collect();
    points.sort_unstable();
    let mut previous = 0;
    let mut shares: Vec<u32> = points
        .iter()
        .map(|p| {
            let share = p - previous;
            previous = *p;
            share
        })
        .collect();
    shares.push(100 - previous);
    shares
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn a_split_serves_each_variant_its_share_within_one_percent(
        cuts in prop::collection::vec(0u32..=100, 1..4),
        salt in "[a-z-]{0,12}",
    ) {
        const USERS: u32 = 100_000;
        let split = weights(&shares_from(&cuts));
        let mut counts = vec![0u32; split.len()];
        for i in 0..USERS {
            let variant = pick(&split, &salt, &format!("user-{i}")).expect("weights sum to 100");
            let index = split.iter().position(|w| w.variant == variant).expect("known variant");
            counts[index] += 1;
        }
        for (weighted, count) in split.iter().zip(&counts) {
            let observed = f64::from(*count) * 100.0 / f64::from(USERS);
            prop_assert!(
                (observed - f64::from(weighted.weight)).abs() <= 1.0,
                "{} has weight {} but got {observed:.2}%", weighted.variant, weighted.weight
            );
        }
    }

    #[test]
    fn raising_a_share_only_moves_users_into_that_variant(
        low in 0u32..100,
        raise in 1u32..=100,
        first in any::<bool>(),
        salt in "[a-z-]{0,12}",
    ) {
        let high = (low + raise).min(100);
        // The grown variant may be first or second in bucket order.
        let split = |share: u32| if first {
            vec![Weighted { variant: "on".into(), weight: share }, Weighted { variant: "off".into(), weight: 100 - share }]
        } else {
            vec![Weighted { variant: "off".into(), weight: 100 - share }, Weighted { variant: "on".into(), weight: share }]
        };
        let (before, after) = (split(low), split(high));
        for i in 0..10_000 {
            let key = format!("user-{i}");
            let was = pick(&before, &salt, &key);
            let now = pick(&after, &salt, &key);
            prop_assert!(was == now || now == Some("on"), "{key} moved from {was:?} to {now:?}");
        }
    }
}

/// Regular expressions built from the pieces literal extraction looks at:
/// literals, classes, alternation, repetition, anchors, case folding.
fn pattern() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        "[a-cé@.]{1,3}".prop_map(|s| regex_lite::escape(&s)),
        Just(".".to_string()),
        Just("[ab]".to_string()),
        Just("[^a]".to_string()),
        Just("\\w".to_string()),
        Just("\\d".to_string()),
        Just("\\.".to_string()),
    ];
    atom.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}|{b})")),
            (
                inner.clone(),
                prop_oneof![Just("*"), Just("+"), Just("?"), Just("{2}")]
            )
                .prop_map(|(a, op)| format!("({a}){op}")),
            inner.clone().prop_map(|a| format!("(?i){a}")),
            inner.clone().prop_map(|a| format!("^{a}")),
            inner.prop_map(|a| format!("{a}$")),
        ]
    })
}

proptest! {
    /// Native builds skip the search when a match's required literals are
    /// absent; the answer must still be regex-lite's, or the server and
    /// the console (wasm, without the shortcut) would disagree.
    #[test]
    fn the_literal_shortcut_never_changes_an_answer(
        pattern in pattern(),
        texts in prop::collection::vec("[a-cA-Cé@.1 ]{0,12}", 1..8),
    ) {
        let reference = regex_lite::Regex::new(&pattern).expect("the generator writes valid patterns");
        let compiled = setpoint_core::pattern::compile(&pattern).expect("within the bounds");
        for text in &texts {
            prop_assert_eq!(compiled.is_match(text), Ok(reference.is_match(text)), "{} on {:?}", pattern, text);
        }
    }
}
