//! Validation of whole service documents and of their parts.
//!
//! Every check collects all violations rather than stopping at the first,
//! so a person fixes a document in one pass. Nothing here panics, whatever
//! the input: the property tests feed it arbitrary JSON.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{
    Breaker, ClosePolicy, Condition, FieldPath, Flag, KeySpec, Op, Serve, ServiceDoc, Values,
    Violation, ViolationKind,
    alert::Matcher,
    pattern,
    schema::{
        DEFAULT_MAX_MATCH_WORK, DEFAULT_MAX_VALUE_BYTES, check_depth, check_key_spec, check_value,
    },
    time::{parse_duration, parse_timestamp},
};

/// What validation checks against beyond the document itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest value allowed, as compact JSON.
    pub max_value_bytes: usize,
    /// The environments that exist; `None` (offline validation) accepts any
    /// well-formed environment name.
    pub environments: Option<Vec<String>>,
    /// The pattern matching one document may cost, in units of a byte of
    /// text matched against a small pattern (see [`crate::pattern`]).
    pub max_match_work: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
            environments: None,
            max_match_work: DEFAULT_MAX_MATCH_WORK,
        }
    }
}

/// Parses and validates a service document given as JSON text.
pub fn check_document(text: &str, limits: &Limits) -> Result<ServiceDoc, Vec<Violation>> {
    let doc = parse_document(text)?;
    let violations = validate_document(&doc, limits);
    if violations.is_empty() {
        Ok(doc)
    } else {
        Err(violations)
    }
}

/// Parses a service document from JSON text. A syntax or shape error is
/// reported alone: the rest of the document cannot be read reliably.
pub fn parse_document(text: &str) -> Result<ServiceDoc, Vec<Violation>> {
    parse(text)
}

/// Parses any document type from JSON text into path-carrying violations.
pub fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Vec<Violation>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc = serde_path_to_error::deserialize(&mut de).map_err(|error| {
        let path = to_field_path(error.path());
        vec![Violation::new(path, json_error_kind(&error.into_inner()))]
    })?;
    de.end()
        .map_err(|e| vec![Violation::new(FieldPath::root(), json_error_kind(&e))])?;
    Ok(doc)
}

fn json_error_kind(error: &serde_json::Error) -> ViolationKind {
    if error.is_syntax() || error.is_eof() {
        ViolationKind::JsonSyntax {
            line: error.line(),
            column: error.column(),
            message: strip_position(&error.to_string()),
        }
    } else {
        ViolationKind::Structure(error.to_string())
    }
}

fn strip_position(message: &str) -> String {
    message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head)
        .to_string()
}

fn to_field_path(path: &serde_path_to_error::Path) -> FieldPath {
    use serde_path_to_error::Segment;
    path.iter()
        .fold(FieldPath::root(), |acc, segment| match segment {
            Segment::Seq { index } => acc.index(*index),
            Segment::Map { key } => acc.key(key.as_str()),
            Segment::Enum { variant } => acc.key(variant.as_str()),
            Segment::Unknown => acc,
        })
}

/// Validates a parsed service document: every rule, every violation.
pub fn validate_document(doc: &ServiceDoc, limits: &Limits) -> Vec<Violation> {
    let (mut out, exhausted) = pattern::metered(limits.max_match_work, || unmetered(doc, limits));
    if exhausted {
        out.push(Violation::new(
            FieldPath::root(),
            ViolationKind::TooCostly {
                limit: limits.max_match_work,
            },
        ));
    }
    out
}

fn unmetered(doc: &ServiceDoc, limits: &Limits) -> Vec<Violation> {
    let root = FieldPath::root();
    let mut out = Vec::new();
    check_name("service", &doc.service, &root.key("service"), &mut out);
    for (i, owner) in doc.owners.iter().enumerate() {
        if owner.trim().is_empty() || owner.len() > 128 {
            out.push(Violation::new(
                root.key("owners").index(i),
                ViolationKind::InvalidName {
                    what: "owner",
                    name: owner.clone(),
                },
            ));
        }
    }
    check_unique(&doc.owners, &root.key("owners"), &mut out);
    out.extend(validate_schema(&doc.schema, limits));
    for (env, values) in &doc.values {
        let path = root.key("values").key(env);
        check_environment(env, &path, limits, &mut out);
        out.extend(validate_values(&doc.schema, values, &path, limits));
    }
    for (key, flag) in &doc.flags {
        out.extend(validate_flag(
            key,
            flag,
            &root.key("flags").key(key),
            limits,
        ));
    }
    for (name, breaker) in &doc.breakers {
        out.extend(validate_breaker(
            name,
            breaker,
            &root.key("breakers").key(name),
            limits,
        ));
    }
    out
}

/// Validates a schema: key names, constraints and defaults.
pub fn validate_schema(
    schema: &std::collections::BTreeMap<String, KeySpec>,
    limits: &Limits,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for (key, spec) in schema {
        let path = FieldPath::root().key("schema").key(key);
        check_name("key", key, &path, &mut out);
        check_key_spec(spec, &path, limits.max_value_bytes, &mut out);
    }
    out
}

/// Validates one environment's values against a schema. `path` is where
/// the values sit (e.g. `values.prod`).
pub fn validate_values(
    schema: &std::collections::BTreeMap<String, KeySpec>,
    values: &Values,
    path: &FieldPath,
    limits: &Limits,
) -> Vec<Violation> {
    let mut out = Vec::new();
    for (key, value) in values {
        let at = path.key(key);
        match schema.get(key) {
            Some(spec) => check_value(spec, value, &at, limits.max_value_bytes, &mut out),
            None => out.push(Violation::new(
                at,
                ViolationKind::UnknownKey { key: key.clone() },
            )),
        }
    }
    out
}

/// Validates a flag: variants of one type, known variant references,
/// operands that fit their operators, splits that sum to 100.
pub fn validate_flag(key: &str, flag: &Flag, path: &FieldPath, limits: &Limits) -> Vec<Violation> {
    let mut out = Vec::new();
    check_name("flag", key, path, &mut out);
    if flag.variants.is_empty() {
        out.push(Violation::new(
            path.key("variants"),
            ViolationKind::NoVariants,
        ));
    }
    let mut expected: Option<&'static str> = None;
    for (name, value) in &flag.variants {
        let at = path.key("variants").key(name);
        check_name("variant", name, &at, &mut out);
        let found = variant_type(value);
        let size = serde_json::to_vec(value).map_or(usize::MAX, |b| b.len());
        if let Some(too_deep) = check_depth(value, &at) {
            out.push(too_deep);
        } else if size > limits.max_value_bytes {
            out.push(Violation::new(
                at,
                ViolationKind::TooLarge {
                    size,
                    limit: limits.max_value_bytes,
                },
            ));
        } else if found == "null" {
            out.push(Violation::new(
                at,
                ViolationKind::TypeMismatch {
                    expected: "a boolean, number, string, object or array",
                    found: "null",
                },
            ));
        } else if let Some(expected) = expected.filter(|e| *e != found) {
            out.push(Violation::new(
                at,
                ViolationKind::VariantTypeMismatch {
                    variant: name.clone(),
                    expected,
                    found,
                },
            ));
        } else {
            expected = Some(found);
        }
    }
    check_variant(flag, &flag.off, &path.key("off"), &mut out);
    for (env, targeting) in &flag.environments {
        let at = path.key("environments").key(env);
        check_environment(env, &at, limits, &mut out);
        for (i, rule) in targeting.rules.iter().enumerate() {
            let rule_path = at.key("rules").index(i);
            for (j, condition) in rule.when.iter().enumerate() {
                check_condition(condition, &rule_path.key("when").index(j), &mut out);
            }
            check_serve(flag, &rule.serve, &rule_path.key("serve"), &mut out);
        }
        check_serve(flag, &targeting.default, &at.key("default"), &mut out);
    }
    out
}

/// Variant values are compared by broad JSON type: all numbers are one type.
fn variant_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_variant(flag: &Flag, variant: &str, path: &FieldPath, out: &mut Vec<Violation>) {
    if !flag.variants.contains_key(variant) {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::UnknownVariant {
                variant: variant.into(),
            },
        ));
    }
}

fn check_serve(flag: &Flag, serve: &Serve, path: &FieldPath, out: &mut Vec<Violation>) {
    match serve {
        Serve::Variant(variant) => check_variant(flag, variant, &path.key("variant"), out),
        Serve::Split(split) => {
            let at = path.key("split");
            let mut seen = BTreeSet::new();
            let mut sum: u64 = 0;
            for (i, weighted) in split.weights.iter().enumerate() {
                let w = at.key("weights").index(i);
                check_variant(flag, &weighted.variant, &w.key("variant"), out);
                if !seen.insert(&weighted.variant) {
                    out.push(Violation::new(
                        w.key("variant"),
                        ViolationKind::Duplicate {
                            name: weighted.variant.clone(),
                        },
                    ));
                }
                sum += u64::from(weighted.weight);
            }
            if sum != 100 {
                out.push(Violation::new(
                    at.key("weights"),
                    ViolationKind::SplitSum { sum },
                ));
            }
            if split
                .bucket_by
                .as_deref()
                .is_some_and(|b| b.trim().is_empty())
            {
                out.push(Violation::new(
                    at.key("bucket_by"),
                    ViolationKind::InvalidName {
                        what: "attribute",
                        name: String::new(),
                    },
                ));
            }
        }
    }
}

fn check_condition(condition: &Condition, path: &FieldPath, out: &mut Vec<Violation>) {
    let op = condition.op;
    let name = op.as_str();
    if condition.attribute.trim().is_empty() || condition.attribute.len() > 128 {
        out.push(Violation::new(
            path.key("attribute"),
            ViolationKind::InvalidName {
                what: "attribute",
                name: condition.attribute.clone(),
            },
        ));
    }
    let (wanted, unwanted, has_unwanted) = if op.takes_list() {
        ("values", "value", condition.value.is_some())
    } else {
        ("value", "values", condition.values.is_some())
    };
    if has_unwanted {
        out.push(Violation::new(
            path.key(unwanted),
            ViolationKind::UnexpectedOperand {
                op: name,
                field: unwanted,
            },
        ));
    }
    let missing = || {
        Violation::new(
            path.clone(),
            ViolationKind::MissingOperand {
                op: name,
                field: wanted,
            },
        )
    };
    let operands: Vec<(FieldPath, &Value)> = if op.takes_list() {
        match &condition.values {
            None => return out.push(missing()),
            Some(values) if values.is_empty() => {
                return out.push(Violation::new(
                    path.key("values"),
                    ViolationKind::InvalidOperand {
                        op: name,
                        expected: "at least one value",
                    },
                ));
            }
            Some(values) => values
                .iter()
                .enumerate()
                .map(|(i, v)| (path.key("values").index(i), v))
                .collect(),
        }
    } else {
        match &condition.value {
            None => return out.push(missing()),
            Some(value) => vec![(path.key("value"), value)],
        }
    };
    for (at, operand) in operands {
        if let Err(expected) = check_operand(op, operand) {
            out.push(Violation::new(
                at,
                ViolationKind::InvalidOperand { op: name, expected },
            ));
        } else if op == Op::Matches
            && let Some(Err(reason)) = operand.as_str().map(pattern::compile)
        {
            out.push(Violation::new(
                at,
                ViolationKind::InvalidRegex {
                    pattern: operand.as_str().unwrap_or_default().into(),
                    reason,
                },
            ));
        }
    }
}

/// Whether an operand fits its operator; `Err` says what it needs.
fn check_operand(op: Op, operand: &Value) -> Result<(), &'static str> {
    match op {
        Op::Eq | Op::Neq | Op::In | Op::NotIn => {
            if matches!(operand, Value::Array(_) | Value::Object(_) | Value::Null) {
                Err("a string, number or boolean")
            } else {
                Ok(())
            }
        }
        Op::StartsWith | Op::EndsWith | Op::Contains | Op::Matches => {
            operand.as_str().map(|_| ()).ok_or("a string")
        }
        Op::Lt | Op::Le | Op::Gt | Op::Ge => operand.as_f64().map(|_| ()).ok_or("a number"),
        Op::SemverLt | Op::SemverLe | Op::SemverGt | Op::SemverGe => operand
            .as_str()
            .and_then(crate::eval::parse_semver)
            .map(|_| ())
            .ok_or("a semantic version such as \"1.4.0\""),
        Op::Before | Op::After => match operand {
            Value::String(s) if parse_timestamp(s).is_ok() => Ok(()),
            Value::Number(n) if n.as_f64().is_some() => Ok(()),
            _ => Err(
                "an RFC 3339 timestamp such as \"2026-03-01T12:00:00Z\" or seconds since the epoch",
            ),
        },
    }
}

/// Validates a breaker definition: environments, alert matchers, close policy.
pub fn validate_breaker(
    name: &str,
    breaker: &Breaker,
    path: &FieldPath,
    limits: &Limits,
) -> Vec<Violation> {
    let mut out = Vec::new();
    check_name("breaker", name, path, &mut out);
    for (i, env) in breaker.environments.iter().enumerate() {
        check_environment(env, &path.key("environments").index(i), limits, &mut out);
    }
    check_unique(&breaker.environments, &path.key("environments"), &mut out);
    for (i, set) in breaker.trips_on.iter().enumerate() {
        let at = path.key("trips_on").index(i);
        if set.is_empty() {
            out.push(Violation::new(at.clone(), ViolationKind::EmptyMatcherSet));
        }
        for (j, matcher) in set.iter().enumerate() {
            if let Err(reason) = Matcher::parse(matcher) {
                out.push(Violation::new(
                    at.index(j),
                    ViolationKind::InvalidMatcher {
                        matcher: matcher.clone(),
                        reason,
                    },
                ));
            }
        }
    }
    if let ClosePolicy::AutoAfter(delay) = &breaker.close {
        let at = path.key("close").key("auto_after");
        match parse_duration(delay) {
            Err(reason) => out.push(Violation::new(
                at,
                ViolationKind::InvalidDuration {
                    value: delay.clone(),
                    reason,
                },
            )),
            Ok(ms) if ms < crate::breaker::MIN_AUTO_AFTER_MS => out.push(Violation::new(
                at,
                ViolationKind::BelowMin {
                    value: delay.clone(),
                    min: "1m".into(),
                },
            )),
            Ok(_) => {}
        }
    }
    if let Err(reason) = parse_duration(&breaker.flapping.window) {
        out.push(Violation::new(
            path.key("flapping").key("window"),
            ViolationKind::InvalidDuration {
                value: breaker.flapping.window.clone(),
                reason,
            },
        ));
    }
    out
}

/// Whether `name` is a valid name for a service, environment, key, flag,
/// variant or breaker: 1–128 ASCII letters, digits, `.`, `_` or `-`,
/// starting with a letter or digit.
pub fn is_valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_name(what: &'static str, name: &str, path: &FieldPath, out: &mut Vec<Violation>) {
    if !is_valid_name(name) {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::InvalidName {
                what,
                name: name.into(),
            },
        ));
    }
}

fn check_environment(env: &str, path: &FieldPath, limits: &Limits, out: &mut Vec<Violation>) {
    if !is_valid_name(env) {
        check_name("environment", env, path, out);
    } else if let Some(known) = &limits.environments
        && !known.iter().any(|k| k == env)
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::UnknownEnvironment {
                environment: env.into(),
            },
        ));
    }
}

pub(crate) fn check_unique(names: &[String], path: &FieldPath, out: &mut Vec<Violation>) {
    let mut seen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        if !seen.insert(name) {
            out.push(Violation::new(
                path.index(i),
                ViolationKind::Duplicate { name: name.clone() },
            ));
        }
    }
}
