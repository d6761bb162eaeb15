//! The JSON Schema subset that `json` keys may declare.
//!
//! Supported keywords: `type` (a name or a list), `enum`, `const`,
//! `minimum`, `maximum`, `minLength`, `maxLength`, `pattern`, `items`,
//! `minItems`, `maxItems`, `properties`, `required`, `additionalProperties`
//! (boolean or schema), `description`, `title`. Any other keyword is
//! rejected when the schema is checked, so nobody relies on a rule that is
//! not enforced.

use serde_json::{Map, Value};

use crate::{FieldPath, Violation, ViolationKind, error::json_type};

const KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "additionalProperties",
    "description",
    "title",
];

const TYPES: &[&str] = &[
    "null", "boolean", "integer", "number", "string", "array", "object",
];

/// Checks that `schema` uses only the supported subset, correctly.
pub fn check_schema(schema: &Value) -> Result<(), String> {
    let Value::Object(map) = schema else {
        return Err("a JSON Schema must be an object".into());
    };
    for (keyword, arg) in map {
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(format!(
                "JSON Schema keyword {keyword:?} is not supported (supported: {})",
                KEYWORDS.join(", ")
            ));
        }
        let ok = match keyword.as_str() {
            "type" => match arg {
                Value::String(t) => TYPES.contains(&t.as_str()),
                Value::Array(ts) => ts
                    .iter()
                    .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))),
                _ => false,
            },
            "enum" => arg.is_array(),
            "minimum" | "maximum" => arg.is_number(),
            "minLength" | "maxLength" | "minItems" | "maxItems" => arg.is_u64(),
            "pattern" => match arg.as_str() {
                Some(p) => {
                    crate::pattern::compile(p).map_err(|e| format!("pattern {p:?}: {e}"))?;
                    true
                }
                None => false,
            },
            "items" => {
                check_schema(arg)?;
                true
            }
            "properties" => match arg {
                Value::Object(props) => {
                    for sub in props.values() {
                        check_schema(sub)?;
                    }
                    true
                }
                _ => false,
            },
            "required" => arg
                .as_array()
                .is_some_and(|r| r.iter().all(Value::is_string)),
            "additionalProperties" => {
                if arg.is_object() {
                    check_schema(arg)?;
                }
                arg.is_boolean() || arg.is_object()
            }
            "description" | "title" => arg.is_string(),
            // "const" accepts any value.
            _ => true,
        };
        if !ok {
            return Err(format!(
                "JSON Schema keyword {keyword:?} has an invalid argument"
            ));
        }
    }
    Ok(())
}

/// Checks `value` against `schema`, pushing one violation per broken rule.
/// Assumes [`check_schema`] accepted the schema; unusable parts are skipped.
pub fn check(schema: &Value, value: &Value, path: &FieldPath, out: &mut Vec<Violation>) {
    let Value::Object(schema) = schema else {
        return;
    };
    let mut fail = |message: String| {
        out.push(Violation::new(
            path.clone(),
            ViolationKind::JsonSchema(message),
        ));
    };
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            fail(format!(
                "expected {}, found {}",
                allowed.join(" or "),
                json_type(value)
            ));
            return;
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.iter().any(|o| json_equal(o, value))
    {
        fail(format!("{value} is not one of the allowed values"));
    }
    if let Some(expected) = schema.get("const")
        && !json_equal(expected, value)
    {
        fail(format!("must be {expected}"));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
            && n < min
        {
            fail(format!("{n} is below the minimum {min}"));
        }
        if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
            && n > max
        {
            fail(format!("{n} is above the maximum {max}"));
        }
    }
    if let Value::String(s) = value {
        let length = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
            && length < min
        {
            fail(format!(
                "{length} characters is shorter than the minimum {min}"
            ));
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
            && length > max
        {
            fail(format!(
                "{length} characters is longer than the maximum {max}"
            ));
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && let Ok(re) = crate::pattern::compile(pattern)
            && re.is_match(s) == Ok(false)
        {
            fail(format!("{s:?} does not match the pattern {pattern:?}"));
        }
    }
    if let Value::Array(items) = value {
        let count = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
            && count < min
        {
            fail(format!("{count} items is fewer than the minimum {min}"));
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
            && count > max
        {
            fail(format!("{count} items is more than the maximum {max}"));
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(item_schema, item, &path.index(i), out);
            }
        }
    }
    if let Value::Object(members) = value {
        check_object(schema, members, path, out);
    }
}

fn check_object(
    schema: &Map<String, Value>,
    members: &Map<String, Value>,
    path: &FieldPath,
    out: &mut Vec<Violation>,
) {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !members.contains_key(name) {
                out.push(Violation::new(
                    path.key(name),
                    ViolationKind::JsonSchema("required property is missing".into()),
                ));
            }
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (name, member) in members {
        match properties.and_then(|p| p.get(name)) {
            Some(sub) => check(sub, member, &path.key(name), out),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => out.push(Violation::new(
                    path.key(name),
                    ViolationKind::JsonSchema("property is not allowed".into()),
                )),
                Some(sub @ Value::Object(_)) => check(sub, member, &path.key(name), out),
                _ => {}
            },
        }
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn errors(schema: &Value, value: &Value) -> Vec<String> {
        check_schema(schema).expect("test schema is valid");
        let mut out = Vec::new();
        check(schema, value, &FieldPath::root().key("v"), &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn checks_objects_deeply() {
        let schema = json!({
            "type": "object",
            "required": ["name", "tiers"],
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "tiers": {"type": "array", "items": {"type": "integer", "minimum": 0}}
            }
        });
        assert!(errors(&schema, &json!({"name": "a", "tiers": [1, 2]})).is_empty());
        assert_eq!(
            errors(&schema, &json!({"name": "", "tiers": [1, -2], "x": 1})),
            vec![
                "v.name: 0 characters is shorter than the minimum 1",
                "v.tiers[1]: -2 is below the minimum 0",
                "v.x: property is not allowed",
            ]
        );
        assert_eq!(
            errors(&schema, &json!([])),
            vec!["v: expected object, found an array"]
        );
    }

    #[test]
    fn rejects_unsupported_keywords() {
        assert!(check_schema(&json!({"oneOf": []})).is_err());
        assert!(check_schema(&json!({"type": "float"})).is_err());
        assert!(check_schema(&json!({"pattern": "("})).is_err());
        assert!(check_schema(&json!({"properties": {"a": {"minimum": "x"}}})).is_err());
    }
}
