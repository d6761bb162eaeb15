//! Snapshots: the materialized state of one environment at one revision,
//! serialized once to canonical JSON and sealed with a sha256 checksum.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{BreakerState, ResolvedFlag, ServiceDoc, Values};

impl ServiceDoc {
    /// The config of `env` as services read it: every schema key, with the
    /// environment's value where it sets one and the default elsewhere.
    /// Values for keys no longer in the schema are dropped.
    pub fn resolved_config(&self, env: &str) -> Values {
        let overrides = self.values.get(env);
        self.schema
            .iter()
            .map(|(key, spec)| {
                let value = overrides
                    .and_then(|values| values.get(key))
                    .unwrap_or(&spec.default);
                (key.clone(), value.clone())
            })
            .collect()
    }

    /// This service as environment `env` sees it, with the given breaker
    /// states (breakers without a recorded state are closed).
    pub fn snapshot(&self, env: &str, states: &BTreeMap<String, BreakerState>) -> ServiceSnapshot {
        ServiceSnapshot {
            config: self.resolved_config(env),
            flags: self
                .flags
                .iter()
                .map(|(key, flag)| (key.clone(), flag.resolve(key, env)))
                .collect(),
            breakers: self
                .breakers
                .iter()
                .filter(|(_, b)| {
                    b.environments.is_empty() || b.environments.iter().any(|e| e == env)
                })
                .map(|(name, _)| {
                    let state = states.get(name).copied().unwrap_or_default();
                    (
                        name.clone(),
                        BreakerSnapshot {
                            open: state.is_open(),
                            state,
                        },
                    )
                })
                .collect(),
        }
    }
}

/// One service in an environment snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSnapshot {
    /// Every schema key with its effective value.
    pub config: Values,
    /// Flags, flattened for this environment.
    pub flags: BTreeMap<String, ResolvedFlag>,
    /// Breakers that exist in this environment.
    pub breakers: BTreeMap<String, BreakerSnapshot>,
}

/// A breaker as services read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerSnapshot {
    /// What services act on: open (also while awaiting close) or not.
    pub open: bool,
    /// The full state, for dashboards.
    pub state: BreakerState,
}

/// The state of one environment at one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The environment.
    pub environment: String,
    /// The change-log revision this state includes.
    pub revision: u64,
    /// Services by name.
    pub services: BTreeMap<String, ServiceSnapshot>,
}

/// A snapshot serialized once: its canonical JSON (with the checksum
/// inside) and the checksum, ready to serve as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSnapshot {
    /// `{"checksum": …, "environment": …, "revision": …, "services": …}`
    /// as compact JSON with sorted keys.
    pub json: Vec<u8>,
    /// Hex sha256 of the canonical JSON of the snapshot without `checksum`.
    pub checksum: String,
}

impl Snapshot {
    /// Serializes and checksums the snapshot.
    pub fn seal(&self) -> SealedSnapshot {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        let checksum = checksum_of(&value);
        if let Value::Object(map) = &mut value {
            map.insert("checksum".into(), Value::String(checksum.clone()));
        }
        SealedSnapshot {
            json: serde_json::to_vec(&value).unwrap_or_default(),
            checksum,
        }
    }
}

/// Checks a sealed snapshot's bytes against the checksum they carry, and
/// returns the snapshot. This is what agents and SDKs run before trusting
/// what they fetched.
pub fn verify(json: &[u8]) -> Result<Snapshot, String> {
    let mut value: Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let claimed = value
        .as_object_mut()
        .and_then(|map| map.remove("checksum"))
        .and_then(|c| c.as_str().map(str::to_owned))
        .ok_or("the snapshot carries no checksum")?;
    let actual = checksum_of(&value);
    if actual != claimed {
        return Err(format!(
            "checksum mismatch: carries {claimed}, content hashes to {actual}"
        ));
    }
    serde_json::from_value(value).map_err(|e| format!("not a snapshot: {e}"))
}

/// Hex sha256 of a value's canonical form: compact JSON with object keys
/// sorted (`serde_json::Map` is a `BTreeMap`, as this crate relies on).
fn checksum_of(value: &Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn example() -> ServiceDoc {
        serde_json::from_str(include_str!("../../../examples/checkout.json"))
            .expect("example parses")
    }

    #[test]
    fn resolved_config_overlays_values_on_defaults() {
        let config = example().resolved_config("prod");
        assert_eq!(config["throttle.rps"], json!(2000));
        assert_eq!(
            config["maintenance"],
            json!(false),
            "default where prod sets nothing"
        );
        assert_eq!(config.len(), example().schema.len(), "every key is present");
        assert_eq!(example().resolved_config("dev")["throttle.rps"], json!(500));
    }

    #[test]
    fn sealed_snapshots_verify_and_tampering_is_caught() {
        let doc = example();
        let states =
            BTreeMap::from([("payments-provider".to_string(), BreakerState::AwaitingClose)]);
        let snapshot = Snapshot {
            environment: "prod".into(),
            revision: 7,
            services: BTreeMap::from([("checkout".to_string(), doc.snapshot("prod", &states))]),
        };
        let sealed = snapshot.seal();
        assert_eq!(sealed.checksum.len(), 64);
        assert_eq!(verify(&sealed.json), Ok(snapshot.clone()));
        assert_eq!(snapshot.seal(), sealed, "sealing is deterministic");

        let breaker = &snapshot.services["checkout"].breakers["payments-provider"];
        assert!(breaker.open, "awaiting close still reads as open");

        let tampered = String::from_utf8(sealed.json)
            .expect("utf-8")
            .replace("\"throttle.rps\":2000", "\"throttle.rps\":9000");
        assert!(verify(tampered.as_bytes()).is_err_and(|e| e.contains("checksum mismatch")));
    }

    #[test]
    fn canonical_json_sorts_object_keys() {
        // The checksum depends on this: serde_json must not preserve order.
        let mut map = serde_json::Map::new();
        map.insert("z".into(), json!(1));
        map.insert("a".into(), json!(2));
        assert_eq!(
            serde_json::to_string(&map).expect("serializes"),
            r#"{"a":2,"z":1}"#
        );
    }
}
