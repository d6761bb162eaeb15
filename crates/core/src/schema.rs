//! Schema keys: checking a key's own definition, and a value against it.

use serde_json::Value;

use crate::{
    FieldPath, KeyKind, KeySpec, Violation, ViolationKind, error::json_type, json_schema,
    time::parse_duration, validate::check_unique,
};

/// The default limit on one value's size, as compact JSON.
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

/// The default budget for pattern matching in one document, in units of
/// [`crate::pattern`]: 4 MiB of text against small patterns (more than a
/// request can carry), 64 KiB against mid-sized ones, 8 KiB against the
/// largest — tens of milliseconds at worst (docs/security.md).
pub const DEFAULT_MAX_MATCH_WORK: u64 = 4 << 20;

/// How deeply arrays and objects may nest inside one value. The request
/// parser and the store's loader allow 128 levels for a whole document or
/// stored row around a value; a value far below that keeps every document
/// that holds it loadable (docs/security.md).
pub const MAX_DEPTH: usize = 32;

/// How deeply `value` nests: 0 for a scalar, 1 for a flat array or object.
/// Counted without recursion, so any parsed value can be measured.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(members) => Box::new(members.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

/// A [`ViolationKind::TooDeep`] at `path` if `value` nests too deeply.
pub fn check_depth(value: &Value, path: &FieldPath) -> Option<Violation> {
    let depth = depth(value);
    (depth > MAX_DEPTH).then(|| {
        Violation::new(
            path.clone(),
            ViolationKind::TooDeep {
                depth,
                limit: MAX_DEPTH,
            },
        )
    })
}

/// Checks a key definition: its constraints fit its type and are usable,
/// and its default is a valid value.
pub fn check_key_spec(
    spec: &KeySpec,
    path: &FieldPath,
    max_bytes: usize,
    out: &mut Vec<Violation>,
) {
    let kind = spec.kind;
    let mut not_applicable = |present: bool, constraint: &'static str, applies: &[KeyKind]| {
        if present && !applies.contains(&kind) {
            out.push(Violation::new(
                path.key(constraint),
                ViolationKind::ConstraintNotApplicable {
                    constraint,
                    kind: kind.as_str(),
                },
            ));
        }
    };
    let bounded = [KeyKind::Int, KeyKind::Float, KeyKind::Duration];
    not_applicable(spec.min.is_some(), "min", &bounded);
    not_applicable(spec.max.is_some(), "max", &bounded);
    not_applicable(spec.min_length.is_some(), "min_length", &[KeyKind::String]);
    not_applicable(spec.max_length.is_some(), "max_length", &[KeyKind::String]);
    not_applicable(spec.pattern.is_some(), "pattern", &[KeyKind::String]);
    not_applicable(spec.choices.is_some(), "enum", &[KeyKind::String]);
    not_applicable(spec.keys.is_some(), "keys", &[KeyKind::Weights]);
    not_applicable(spec.schema.is_some(), "schema", &[KeyKind::Json]);

    let before = out.len();
    let min = bound(spec, "min", spec.min.as_ref(), path, out);
    let max = bound(spec, "max", spec.max.as_ref(), path, out);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        out.push(invalid(path, "max", "must not be below `min`"));
    }
    if let (Some(min), Some(max)) = (spec.min_length, spec.max_length)
        && min > max
    {
        out.push(invalid(
            path,
            "max_length",
            "must not be below `min_length`",
        ));
    }
    if let Some(pattern) = &spec.pattern
        && let Err(reason) = crate::pattern::compile(&anchored(pattern))
    {
        out.push(Violation::new(
            path.key("pattern"),
            ViolationKind::InvalidRegex {
                pattern: pattern.clone(),
                reason,
            },
        ));
    }
    if let Some(choices) = &spec.choices {
        if choices.is_empty() {
            out.push(invalid(path, "enum", "must list at least one value"));
        }
        check_unique(choices, &path.key("enum"), out);
    }
    if let Some(keys) = &spec.keys {
        if keys.is_empty() {
            out.push(invalid(path, "keys", "must list at least one name"));
        }
        check_unique(keys, &path.key("keys"), out);
    }
    if let Some(schema) = &spec.schema
        && let Some(too_deep) = check_depth(schema, &path.key("schema"))
    {
        out.push(too_deep);
    } else if let Some(schema) = &spec.schema
        && let Err(reason) = json_schema::check_schema(schema)
    {
        out.push(Violation::new(
            path.key("schema"),
            ViolationKind::InvalidConstraint {
                constraint: "schema",
                reason,
            },
        ));
    }
    // A default checked against broken constraints would only repeat them.
    if out.len() == before {
        check_value(spec, &spec.default, &path.key("default"), max_bytes, out);
    }
}

fn invalid(path: &FieldPath, constraint: &'static str, reason: &str) -> Violation {
    Violation::new(
        path.key(constraint),
        ViolationKind::InvalidConstraint {
            constraint,
            reason: reason.into(),
        },
    )
}

/// Reads a `min`/`max` as a comparable number (milliseconds for durations).
fn bound(
    spec: &KeySpec,
    constraint: &'static str,
    value: Option<&Value>,
    path: &FieldPath,
    out: &mut Vec<Violation>,
) -> Option<f64> {
    let value = value?;
    let parsed = match spec.kind {
        KeyKind::Int => value
            .as_i64()
            .map(|n| n as f64)
            .ok_or_else(|| "must be an integer".to_string()),
        KeyKind::Float => value.as_f64().ok_or_else(|| "must be a number".to_string()),
        KeyKind::Duration => value
            .as_str()
            .ok_or_else(|| "must be a duration such as \"30s\"".to_string())
            .and_then(|text| parse_duration(text).map(|ms| ms as f64)),
        _ => return None,
    };
    match parsed {
        Ok(n) => Some(n),
        Err(reason) => {
            out.push(Violation::new(
                path.key(constraint),
                ViolationKind::InvalidConstraint { constraint, reason },
            ));
            None
        }
    }
}

/// Checks one value against its key: type, constraints and size.
pub fn check_value(
    spec: &KeySpec,
    value: &Value,
    path: &FieldPath,
    max_bytes: usize,
    out: &mut Vec<Violation>,
) {
    if let Some(too_deep) = check_depth(value, path) {
        out.push(too_deep);
        return;
    }
    let size = serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len());
    if size > max_bytes {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::TooLarge {
                size,
                limit: max_bytes,
            },
        ));
        return;
    }
    let mismatch = |expected: &'static str| {
        Violation::new(
            path.clone(),
            ViolationKind::TypeMismatch {
                expected,
                found: json_type(value),
            },
        )
    };
    match spec.kind {
        KeyKind::Bool => {
            if !value.is_boolean() {
                out.push(mismatch("a boolean"));
            }
        }
        KeyKind::Int => match value.as_i64() {
            Some(n) => check_range(spec, n as f64, &n.to_string(), path, out),
            None => out.push(mismatch("an integer")),
        },
        KeyKind::Float => match value.as_f64() {
            Some(n) => check_range(spec, n, &n.to_string(), path, out),
            None => out.push(mismatch("a number")),
        },
        KeyKind::Percent => match value.as_f64() {
            Some(n) if n < 0.0 => out.push(Violation::new(
                path.clone(),
                ViolationKind::BelowMin {
                    value: n.to_string(),
                    min: "0".into(),
                },
            )),
            Some(n) if n > 100.0 => out.push(Violation::new(
                path.clone(),
                ViolationKind::AboveMax {
                    value: n.to_string(),
                    max: "100".into(),
                },
            )),
            Some(_) => {}
            None => out.push(mismatch("a number from 0 to 100")),
        },
        KeyKind::Duration => match value.as_str() {
            Some(text) => match parse_duration(text) {
                Ok(ms) => check_range(spec, ms as f64, text, path, out),
                Err(reason) => out.push(Violation::new(
                    path.clone(),
                    ViolationKind::InvalidDuration {
                        value: text.into(),
                        reason,
                    },
                )),
            },
            None => out.push(mismatch("a duration such as \"30s\"")),
        },
        KeyKind::String => match value.as_str() {
            Some(text) => check_string(spec, text, path, out),
            None => out.push(mismatch("a string")),
        },
        KeyKind::Weights => match value.as_object() {
            Some(map) => check_weights(spec, map, path, out),
            None => out.push(mismatch("an object of name → integer weights")),
        },
        KeyKind::Json => {
            if let Some(schema) = &spec.schema {
                json_schema::check(schema, value, path, out);
            }
        }
        KeyKind::Ref => match value.as_object() {
            Some(map) => check_ref(map, path, out),
            None => out.push(mismatch("an object {url, sha256, version}")),
        },
    }
}

/// Formats a bound for a message as the schema wrote it.
fn bound_text(bound: &Value) -> String {
    bound
        .as_str()
        .map_or_else(|| bound.to_string(), ToString::to_string)
}

fn check_range(spec: &KeySpec, n: f64, shown: &str, path: &FieldPath, out: &mut Vec<Violation>) {
    let as_number = |bound: &Value| match spec.kind {
        KeyKind::Duration => bound
            .as_str()
            .and_then(|t| parse_duration(t).ok())
            .map(|ms| ms as f64),
        _ => bound.as_f64(),
    };
    if let Some(min) = &spec.min
        && as_number(min).is_some_and(|min| n < min)
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::BelowMin {
                value: shown.into(),
                min: bound_text(min),
            },
        ));
    }
    if let Some(max) = &spec.max
        && as_number(max).is_some_and(|max| n > max)
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::AboveMax {
                value: shown.into(),
                max: bound_text(max),
            },
        ));
    }
}

fn check_string(spec: &KeySpec, text: &str, path: &FieldPath, out: &mut Vec<Violation>) {
    let length = text.chars().count() as u64;
    if let Some(min) = spec.min_length
        && length < min
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::TooShort { length, min },
        ));
    }
    if let Some(max) = spec.max_length
        && length > max
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::TooLong { length, max },
        ));
    }
    if let Some(pattern) = &spec.pattern {
        // The pattern constrains the whole value, as JSON Schema users expect
        // of a config key (a partial match would accept `prod-eu; rm -rf`).
        // Past the budget the match is skipped: the document is refused
        // as `too_costly` as a whole.
        if let Ok(re) = crate::pattern::compile(&anchored(pattern))
            && re.is_match(text) == Ok(false)
        {
            out.push(Violation::new(
                path.clone(),
                ViolationKind::PatternMismatch {
                    value: text.into(),
                    pattern: pattern.clone(),
                },
            ));
        }
    }
    if let Some(choices) = &spec.choices
        && !choices.iter().any(|c| c == text)
    {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::NotInEnum {
                value: text.into(),
                allowed: choices.clone(),
            },
        ));
    }
}

fn check_weights(
    spec: &KeySpec,
    map: &serde_json::Map<String, Value>,
    path: &FieldPath,
    out: &mut Vec<Violation>,
) {
    let mut sum: u64 = 0;
    let mut all_valid = true;
    for (name, weight) in map {
        if let Some(w) = weight.as_u64() {
            sum = sum.saturating_add(w);
        } else {
            all_valid = false;
            out.push(Violation::new(
                path.key(name),
                ViolationKind::TypeMismatch {
                    expected: "a non-negative integer",
                    found: json_type(weight),
                },
            ));
        }
    }
    if all_valid && sum != 100 {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::WeightsSum { sum },
        ));
    }
    if let Some(keys) = &spec.keys {
        let missing: Vec<String> = keys
            .iter()
            .filter(|k| !map.contains_key(*k))
            .cloned()
            .collect();
        let unexpected: Vec<String> = map.keys().filter(|k| !keys.contains(k)).cloned().collect();
        if !missing.is_empty() || !unexpected.is_empty() {
            out.push(Violation::new(
                path.clone(),
                ViolationKind::WeightsKeys {
                    missing,
                    unexpected,
                },
            ));
        }
    }
}

fn check_ref(map: &serde_json::Map<String, Value>, path: &FieldPath, out: &mut Vec<Violation>) {
    let mut fail = |at: FieldPath, message: &str| {
        out.push(Violation::new(
            at,
            ViolationKind::InvalidRef(message.into()),
        ));
    };
    for name in map.keys() {
        if !matches!(name.as_str(), "url" | "sha256" | "version") {
            fail(path.key(name), "a ref has only url, sha256 and version");
        }
    }
    match map.get("url").and_then(Value::as_str) {
        Some(url) if has_scheme(url) => {}
        Some(_) => fail(
            path.key("url"),
            "url needs a scheme, e.g. s3://bucket/key or https://…",
        ),
        None => fail(path.key("url"), "url is required and must be a string"),
    }
    match map.get("sha256").and_then(Value::as_str) {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {}
        Some(_) => fail(path.key("sha256"), "sha256 must be 64 hexadecimal digits"),
        None => fail(
            path.key("sha256"),
            "sha256 is required and must be a string",
        ),
    }
    match map.get("version") {
        Some(Value::Number(n)) if n.is_u64() => {}
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(_) => fail(
            path.key("version"),
            "version must be a non-negative integer or a non-empty string",
        ),
        None => fail(path.key("version"), "version is required"),
    }
}

fn has_scheme(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        !rest.is_empty()
            && scheme
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

/// A string key's pattern as matched: against the whole value, as JSON
/// Schema users expect of a config key (a partial match would accept
/// `prod-eu; rm -rf`).
fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}
