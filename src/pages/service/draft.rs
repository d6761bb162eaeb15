//! The config form's model: the record edited, the environment and the
//! edits by key. Pure, so that its rules are tested without a browser; the
//! problems it reports come from the core's checks, which the server runs.

use std::collections::BTreeMap;

use serde_json::Value;
use setpoint_core::{FieldPath, KeySpec, Limits, schema::check_value};

use crate::{
    api::{ServiceRecord, ValuesPatch},
    components::Edit,
};

/// The form's model: the record edited, the environment and the edits.
/// Pure, so that its rules are tested without a browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    /// The service as last read; its revision is the base of the save.
    pub base: ServiceRecord,
    /// The environment edited.
    pub environment: String,
    /// Edits by key.
    pub edits: BTreeMap<String, Edit>,
}

impl Draft {
    /// A draft with no edits.
    pub fn new(base: ServiceRecord, environment: String) -> Self {
        Self {
            base,
            environment,
            edits: BTreeMap::new(),
        }
    }

    /// The stored override of `key` in this environment, if any.
    pub fn stored(&self, key: &str) -> Option<&Value> {
        self.base
            .doc
            .values
            .get(&self.environment)
            .and_then(|values| values.get(key))
    }

    /// What `key` would be after saving (the default when not set).
    pub fn effective(&self, key: &str, spec: &KeySpec) -> Value {
        match self.edits.get(key) {
            Some(Edit::Set(value)) => value.clone(),
            Some(Edit::Reset) => spec.default.clone(),
            Some(Edit::Unparsable { .. }) | None => {
                self.stored(key).unwrap_or(&spec.default).clone()
            }
        }
    }

    /// Whether `key` would be overridden after saving.
    pub fn overridden(&self, key: &str) -> bool {
        match self.edits.get(key) {
            Some(Edit::Set(_)) => true,
            Some(Edit::Reset) => false,
            _ => self.stored(key).is_some(),
        }
    }

    /// Problems per key, from the core's checks: what the server would say.
    pub fn problems(&self) -> BTreeMap<String, Vec<String>> {
        let limits = Limits::default();
        let mut problems = BTreeMap::new();
        for (key, edit) in &self.edits {
            let messages = match (edit, self.base.doc.schema.get(key)) {
                (Edit::Unparsable { message, .. }, _) => vec![message.clone()],
                (Edit::Set(value), Some(spec)) => {
                    let mut out = Vec::new();
                    let path = FieldPath::root()
                        .key("values")
                        .key(self.environment.as_str())
                        .key(key.as_str());
                    check_value(spec, value, &path, limits.max_value_bytes, &mut out);
                    out.iter().map(|v| v.kind.to_string()).collect()
                }
                (Edit::Set(_), None) => vec!["the schema has no such key".into()],
                (Edit::Reset, _) => Vec::new(),
            };
            if !messages.is_empty() {
                problems.insert(key.clone(), messages);
            }
        }
        problems
    }

    /// The patch to send: values that differ from what is stored, and
    /// overrides to drop.
    pub fn patch(&self, reason: &str) -> ValuesPatch {
        let mut set = BTreeMap::new();
        let mut remove_keys = Vec::new();
        for (key, edit) in &self.edits {
            match edit {
                Edit::Set(value) if self.stored(key) != Some(value) => {
                    set.insert(key.clone(), value.clone());
                }
                Edit::Reset if self.stored(key).is_some() => remove_keys.push(key.clone()),
                _ => {}
            }
        }
        ValuesPatch {
            set,
            remove_keys,
            base_revision: Some(self.base.revision),
            reason: Some(reason.to_string()),
        }
    }

    /// Whether saving would change anything.
    pub fn dirty(&self) -> bool {
        let patch = self.patch("");
        !patch.set.is_empty() || !patch.remove_keys.is_empty()
    }

    /// The resolved config before and after the edits, for the preview.
    pub fn before_after(&self) -> (Value, Value) {
        let before = self.base.doc.resolved_config(&self.environment);
        let after = self
            .base
            .doc
            .schema
            .iter()
            .map(|(key, spec)| (key.clone(), self.effective(key, spec)))
            .collect::<serde_json::Map<_, _>>();
        (
            serde_json::to_value(before).unwrap_or(Value::Null),
            Value::Object(after),
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use setpoint_core::ServiceDoc;

    use super::*;

    fn draft() -> Draft {
        let doc: ServiceDoc = serde_json::from_str(include_str!("../../../examples/checkout.json"))
            .expect("example parses");
        Draft::new(
            ServiceRecord {
                doc,
                revision: 7,
                tombstone: None,
                managed_by: None,
            },
            "prod".into(),
        )
    }

    #[test]
    fn problems_come_from_the_core_at_their_key() {
        let mut d = draft();
        d.edits.insert("throttle.rps".into(), Edit::Set(json!(0)));
        d.edits.insert(
            "maintenance".into(),
            Edit::Unparsable {
                text: "x".into(),
                message: "enter a number".into(),
            },
        );
        let problems = d.problems();
        assert_eq!(problems.len(), 2);
        assert!(problems["throttle.rps"][0].contains("below the minimum 1"));
        assert_eq!(problems["maintenance"], ["enter a number"]);
    }

    #[test]
    fn the_patch_holds_only_real_changes_and_names_its_base() {
        let mut d = draft();
        assert!(!d.dirty());
        let stored = d
            .stored("throttle.rps")
            .cloned()
            .expect("prod overrides it");
        d.edits.insert("throttle.rps".into(), Edit::Set(stored));
        assert!(!d.dirty(), "setting the stored value changes nothing");

        d.edits.insert("throttle.rps".into(), Edit::Reset);
        d.edits.insert("maintenance".into(), Edit::Set(json!(true)));
        let patch = d.patch("incident 42");
        assert_eq!(patch.remove_keys, ["throttle.rps"]);
        assert_eq!(patch.set.get("maintenance"), Some(&json!(true)));
        assert_eq!(patch.base_revision, Some(7));
        assert_eq!(patch.reason.as_deref(), Some("incident 42"));

        let spec = d.base.doc.schema["throttle.rps"].clone();
        assert_eq!(d.effective("throttle.rps", &spec), spec.default);
        assert!(!d.overridden("throttle.rps"));
        let (before, after) = d.before_after();
        assert_ne!(before["throttle.rps"], after["throttle.rps"]);
    }
}
