//! Structural diffs between two JSON states, for change previews and audit.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{FieldPath, ServiceDoc, json_schema::json_equal};

/// What happened at one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffOp {
    /// Present after, absent before.
    Added,
    /// Present before, absent after.
    Removed,
    /// Present in both with different values.
    Changed,
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffEntry {
    /// Where.
    pub path: FieldPath,
    /// What happened.
    pub op: DiffOp,
    /// The value before (absent when added).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The value after (absent when removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

/// The differences from `before` to `after`, in path order. Objects are
/// compared member by member and arrays element by element, so the entries
/// point at the smallest parts that changed.
pub fn diff(before: &Value, after: &Value) -> Vec<DiffEntry> {
    let mut out = Vec::new();
    walk(&FieldPath::root(), before, after, &mut out);
    out
}

/// The differences between two versions of a service document.
pub fn diff_services(before: &ServiceDoc, after: &ServiceDoc) -> Vec<DiffEntry> {
    let as_value = |doc: &ServiceDoc| serde_json::to_value(doc).unwrap_or(Value::Null);
    diff(&as_value(before), &as_value(after))
}

fn walk(path: &FieldPath, before: &Value, after: &Value, out: &mut Vec<DiffEntry>) {
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let at = path.key(key.as_str());
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => walk(&at, x, y, out),
                    (Some(x), None) => out.push(entry(at, DiffOp::Removed, Some(x), None)),
                    (None, Some(y)) => out.push(entry(at, DiffOp::Added, None, Some(y))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for i in 0..a.len().max(b.len()) {
                let at = path.index(i);
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => walk(&at, x, y, out),
                    (Some(x), None) => out.push(entry(at, DiffOp::Removed, Some(x), None)),
                    (None, Some(y)) => out.push(entry(at, DiffOp::Added, None, Some(y))),
                    (None, None) => {}
                }
            }
        }
        _ if json_equal(before, after) => {}
        _ => out.push(entry(
            path.clone(),
            DiffOp::Changed,
            Some(before),
            Some(after),
        )),
    }
}

fn entry(path: FieldPath, op: DiffOp, before: Option<&Value>, after: Option<&Value>) -> DiffEntry {
    DiffEntry {
        path,
        op,
        before: before.cloned(),
        after: after.cloned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reports_the_smallest_changed_parts() {
        let before = json!({"a": 1, "b": {"c": [1, 2, 3]}, "gone": true});
        let after = json!({"a": 1.0, "b": {"c": [1, 5]}, "new": "x"});
        let entries: Vec<(String, DiffOp)> = diff(&before, &after)
            .into_iter()
            .map(|e| (e.path.to_string(), e.op))
            .collect();
        assert_eq!(
            entries,
            vec![
                ("b.c[1]".into(), DiffOp::Changed),
                ("b.c[2]".into(), DiffOp::Removed),
                ("gone".into(), DiffOp::Removed),
                ("new".into(), DiffOp::Added),
            ]
        );
    }

    #[test]
    fn equal_states_have_no_diff() {
        let v = json!({"x": [1, {"y": null}]});
        assert!(diff(&v, &v).is_empty());
    }

    #[test]
    fn a_type_change_is_one_change() {
        let d = diff(&json!({"k": {"a": 1}}), &json!({"k": [1]}));
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].path.to_string(), "k");
        assert_eq!(d[0].op, DiffOp::Changed);
    }
}
