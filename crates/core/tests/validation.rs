//! Document validation, pinned on exact violations.

use serde_json::{Value, json};
use setpoint_core::{Limits, ViolationKind, check_document};

fn example() -> Value {
    serde_json::from_str(include_str!("../../../examples/checkout.json")).expect("example parses")
}

/// Validates a document and returns `(path, code)` of each violation.
fn violations(doc: &Value) -> Vec<(String, &'static str)> {
    violations_with(doc, &Limits::default())
}

fn violations_with(doc: &Value, limits: &Limits) -> Vec<(String, &'static str)> {
    match check_document(&doc.to_string(), limits) {
        Ok(_) => Vec::new(),
        Err(list) => list
            .iter()
            .map(|v| (v.path.to_string(), v.code()))
            .collect(),
    }
}

#[test]
fn the_example_document_is_valid() {
    assert_eq!(violations(&example()), vec![]);
}

#[test]
fn reports_every_problem_with_its_path_in_one_pass() {
    let mut doc = example();
    doc["values"]["prod"]["throttle.rps"] = json!(200_000);
    doc["values"]["prod"]["routing.weights"] =
        json!({"us-east": 70, "us-west": 20, "eu-central": 20});
    doc["values"]["staging"]["log.level"] = json!("verbose");
    doc["values"]["staging"]["nope"] = json!(1);
    doc["flags"]["new-checkout-flow"]["environments"]["prod"]["rules"][1]["serve"]["split"]["weights"]
        [0]["weight"] = json!(30);
    doc["flags"]["new-checkout-flow"]["environments"]["prod"]["default"] =
        json!({"variant": "maybe"});
    doc["breakers"]["payments-provider"]["trips_on"][0][1] = json!("service=~(");
    assert_eq!(
        violations(&doc),
        vec![
            (r#"values.prod["routing.weights"]"#.into(), "weights_sum"),
            (r#"values.prod["throttle.rps"]"#.into(), "above_max"),
            (r#"values.staging["log.level"]"#.into(), "not_in_enum"),
            ("values.staging.nope".into(), "unknown_key"),
            (
                "flags.new-checkout-flow.environments.prod.rules[1].serve.split.weights".into(),
                "split_sum"
            ),
            (
                "flags.new-checkout-flow.environments.prod.default.variant".into(),
                "unknown_variant"
            ),
            (
                "breakers.payments-provider.trips_on[0][1]".into(),
                "invalid_matcher"
            ),
        ]
    );
}

#[test]
fn violations_carry_the_exact_rule_and_a_message() {
    let mut doc = example();
    doc["values"]["prod"]["throttle.rps"] = json!(0);
    let errors = check_document(&doc.to_string(), &Limits::default()).expect_err("invalid");
    assert_eq!(
        errors[0].kind,
        ViolationKind::BelowMin {
            value: "0".into(),
            min: "1".into()
        }
    );
    assert_eq!(
        errors[0].to_string(),
        r#"values.prod["throttle.rps"]: 0 is below the minimum 1"#
    );
    assert_eq!(
        serde_json::to_value(&errors[0]).expect("serializes"),
        json!({"path": "values.prod[\"throttle.rps\"]", "code": "below_min", "message": "0 is below the minimum 1"})
    );
}

#[test]
fn schema_definitions_are_checked() {
    let doc = json!({
        "service": "svc",
        "schema": {
            "a": {"type": "int", "min": 10, "max": 1, "default": 5},
            "b": {"type": "bool", "pattern": "x", "default": true},
            "c": {"type": "string", "pattern": "(", "default": "x"},
            "d": {"type": "duration", "default": "5 minutes"},
            "e": {"type": "percent", "default": 101},
            "f": {"type": "ref", "default": {"url": "pricing.json", "sha256": "abc", "version": -1}},
            "g": {"type": "json", "schema": {"oneOf": []}, "default": {}},
            "h": {"type": "string", "enum": [], "default": "x"},
            "bad key!": {"type": "bool", "default": false},
            "i": {"type": "float", "default": "1.5"}
        }
    });
    assert_eq!(
        violations(&doc),
        vec![
            ("schema.a.max".into(), "invalid_constraint"),
            ("schema.b.pattern".into(), "constraint_not_applicable"),
            (r#"schema["bad key!"]"#.into(), "invalid_name"),
            ("schema.c.pattern".into(), "invalid_regex"),
            ("schema.d.default".into(), "invalid_duration"),
            ("schema.e.default".into(), "above_max"),
            ("schema.f.default.url".into(), "invalid_ref"),
            ("schema.f.default.sha256".into(), "invalid_ref"),
            ("schema.f.default.version".into(), "invalid_ref"),
            ("schema.g.schema".into(), "invalid_constraint"),
            ("schema.h.enum".into(), "invalid_constraint"),
            // No `schema.h.default`: a default is not checked against
            // constraints that are themselves broken.
            ("schema.i.default".into(), "type_mismatch"),
        ]
    );
}

#[test]
fn flag_definitions_are_checked() {
    let doc = json!({
        "service": "svc",
        "flags": {
            "f": {
                "variants": {"on": true, "text": "x", "nothing": null},
                "off": "gone",
                "environments": {
                    "prod": {
                        "enabled": true,
                        "rules": [
                            {"when": [{"attribute": "country", "op": "in", "value": "NL"}], "serve": {"variant": "on"}},
                            {"when": [{"attribute": "v", "op": "semver_gt", "value": "one"}], "serve": {"variant": "on"}},
                            {"when": [{"attribute": "", "op": "matches", "value": "("}], "serve": {"variant": "on"}},
                            {"when": [{"attribute": "n", "op": "lt"}], "serve": {"split": {"weights": [
                                {"variant": "on", "weight": 60}, {"variant": "on", "weight": 60}]}}}
                        ],
                        "default": {"variant": "on"}
                    }
                }
            },
            "empty": {"variants": {}, "off": "x", "environments": {"Prod Env": {"enabled": false, "default": {"variant": "x"}}}}
        }
    });
    assert_eq!(
        violations(&doc),
        vec![
            ("flags.empty.variants".into(), "no_variants"),
            ("flags.empty.off".into(), "unknown_variant"),
            (
                r#"flags.empty.environments["Prod Env"]"#.into(),
                "invalid_name"
            ),
            (
                r#"flags.empty.environments["Prod Env"].default.variant"#.into(),
                "unknown_variant"
            ),
            ("flags.f.variants.nothing".into(), "type_mismatch"),
            ("flags.f.variants.text".into(), "variant_type_mismatch"),
            ("flags.f.off".into(), "unknown_variant"),
            (
                "flags.f.environments.prod.rules[0].when[0].value".into(),
                "unexpected_operand"
            ),
            (
                "flags.f.environments.prod.rules[0].when[0]".into(),
                "missing_operand"
            ),
            (
                "flags.f.environments.prod.rules[1].when[0].value".into(),
                "invalid_operand"
            ),
            (
                "flags.f.environments.prod.rules[2].when[0].attribute".into(),
                "invalid_name"
            ),
            (
                "flags.f.environments.prod.rules[2].when[0].value".into(),
                "invalid_regex"
            ),
            (
                "flags.f.environments.prod.rules[3].when[0]".into(),
                "missing_operand"
            ),
            (
                "flags.f.environments.prod.rules[3].serve.split.weights[1].variant".into(),
                "duplicate"
            ),
            (
                "flags.f.environments.prod.rules[3].serve.split.weights".into(),
                "split_sum"
            ),
        ]
    );
}

#[test]
fn environments_must_exist_when_the_caller_knows_them() {
    let limits = Limits {
        environments: Some(vec!["prod".into()]),
        ..Limits::default()
    };
    assert_eq!(
        violations_with(&example(), &limits),
        vec![
            ("values.staging".into(), "unknown_environment"),
            (
                "flags.new-checkout-flow.environments.staging".into(),
                "unknown_environment"
            ),
        ]
    );
}

#[test]
fn values_over_the_size_limit_are_rejected() {
    let mut doc = example();
    doc["schema"]["blob"] = json!({"type": "json", "default": {}});
    doc["values"]["prod"]["blob"] = json!("x".repeat(70_000));
    assert_eq!(
        violations(&doc),
        vec![("values.prod.blob".into(), "too_large")]
    );
}

#[test]
fn syntax_and_shape_errors_say_where() {
    let errors = check_document(
        "{\"service\": \"x\",\n  \"owners\": [\"a\",}",
        &Limits::default(),
    )
    .expect_err("broken JSON");
    assert_eq!(errors.len(), 1);
    assert!(
        matches!(errors[0].kind, ViolationKind::JsonSyntax { line: 2, .. }),
        "{:?}",
        errors[0]
    );

    let errors = check_document(
        r#"{"service": "x", "flags": {"f": {"variants": {}, "off": "a", "colour": 1}}}"#,
        &Limits::default(),
    )
    .expect_err("unknown field");
    assert_eq!(errors[0].code(), "invalid_structure");
    assert_eq!(errors[0].path.to_string(), "flags.f.colour");
    assert!(
        errors[0].to_string().contains("unknown field `colour`"),
        "{}",
        errors[0]
    );
}

#[test]
fn breakers_are_checked() {
    let doc = json!({
        "service": "svc",
        "breakers": {
            "b": {"trips_on": [[], ["alertname"]], "close": {"auto_after": "soon"}, "environments": ["prod", "prod"]}
        }
    });
    assert_eq!(
        violations(&doc),
        vec![
            ("breakers.b.environments[1]".into(), "duplicate"),
            ("breakers.b.trips_on[0]".into(), "empty_matcher_set"),
            ("breakers.b.trips_on[1][0]".into(), "invalid_matcher"),
            ("breakers.b.close.auto_after".into(), "invalid_duration"),
        ]
    );
}

/// `[[[…1…]]]`, `levels` arrays deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

#[test]
fn values_nest_at_most_thirty_two_levels_wherever_they_are() {
    let mut doc = example();
    doc["schema"]["blob"] = json!({"type": "json", "default": nested(32)});
    doc["flags"]["deep"] = json!({"variants": {"a": nested(32), "b": [0]}, "off": "a"});
    assert_eq!(violations(&doc), vec![], "32 levels are fine");

    doc["schema"]["blob"]["default"] = nested(33);
    doc["values"]["prod"]["retry.policy"] = nested(33);
    doc["flags"]["deep"]["variants"]["a"] = nested(100);
    doc["schema"]["shaped"] =
        json!({"type": "json", "default": 1, "schema": {"items": nested(40)}});
    let Err(found) = check_document(&doc.to_string(), &Limits::default()) else {
        panic!("too deep")
    };
    let pinned: Vec<(String, &str)> = found
        .iter()
        .map(|v| (v.path.to_string(), v.code()))
        .collect();
    assert_eq!(
        pinned,
        vec![
            ("schema.blob.default".into(), "too_deep"),
            ("schema.shaped.schema".into(), "too_deep"),
            (r#"values.prod["retry.policy"]"#.into(), "too_deep"),
            ("flags.deep.variants.a".into(), "too_deep"),
        ]
    );
    assert_eq!(
        found[3].kind,
        ViolationKind::TooDeep {
            depth: 100,
            limit: 32
        }
    );
}

#[test]
fn a_pattern_that_compiles_to_too_much_is_refused_before_any_matching() {
    let mut doc = example();
    doc["schema"]["list"] = json!({
        "type": "json",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "x{1000}{250}"}},
        "default": vec!["x"; 400],
    });
    doc["schema"]["code"] = json!({"type": "string", "pattern": "x{1000}{250}", "default": "x"});
    let found = violations(&doc);
    assert_eq!(
        found,
        vec![
            ("schema.code.pattern".into(), "invalid_regex"),
            ("schema.list.schema".into(), "invalid_constraint"),
        ]
    );
}

#[test]
fn matching_beyond_the_budget_refuses_the_document_as_too_costly() {
    let mut doc = example();
    let text = "ab".repeat(2000);
    doc["schema"]["list"] = json!({
        "type": "json",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "^(ab)+$"}},
        "default": vec![text; 10],
    });
    assert_eq!(violations(&doc), vec![], "within the default budget");
    let tight = Limits {
        max_match_work: 10_000,
        ..Limits::default()
    };
    assert_eq!(
        violations_with(&doc, &tight),
        vec![(String::new(), "too_costly")]
    );
}
