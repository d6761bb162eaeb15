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

    /// Whether the service has anything of its own in `env`: an override,
    /// a flag targeted there, or a breaker that exists there. A service
    /// without any still serves its defaults in `env`.
    pub fn configures(&self, env: &str) -> bool {
        self.values
            .get(env)
            .is_some_and(|values| !values.is_empty())
            || self
                .flags
                .values()
                .any(|f| f.environments.contains_key(env))
            || self.breakers.values().any(|b| b.exists_in(env))
    }

    /// This service as environment `env` sees it, with the given breaker
    /// states (breakers without a recorded state are closed) and its
    /// tombstone if it was deleted.
    pub fn snapshot(
        &self,
        env: &str,
        states: &BTreeMap<String, BreakerState>,
        tombstone: Option<&Tombstone>,
    ) -> ServiceSnapshot {
        ServiceSnapshot {
            tombstone: tombstone.cloned(),
            config: self.resolved_config(env),
            flags: self
                .flags
                .iter()
                .map(|(key, flag)| (key.clone(), flag.resolve(key, env)))
                .collect(),
            breakers: self
                .breakers
                .iter()
                .filter(|(_, b)| b.exists_in(env))
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
    /// Set while the service is deleted but not yet reclaimed. It is still
    /// served, with its last config, so that a delete by mistake can be
    /// undone and services still reading it do not race its removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tombstone: Option<Tombstone>,
}

/// A deleted service awaiting reclamation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tombstone {
    /// When it was deleted (RFC 3339).
    // Change logs written before snapshots carried tombstones say
    // `deleted_at`.
    #[serde(alias = "deleted_at")]
    pub tombstoned_at: String,
    /// When it will be removed for good (RFC 3339).
    pub reclaim_at: String,
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
    /// The snapshot's [`checksum`]: built from each service's digest, so
    /// resealing after a change hashes only what changed.
    pub checksum: String,
}

impl Snapshot {
    /// Serializes and checksums the snapshot.
    pub fn seal(&self) -> SealedSnapshot {
        let parts: Vec<(&str, Vec<u8>)> = self
            .services
            .iter()
            .map(|(name, service)| (name.as_str(), service.canonical_json()))
            .collect();
        seal_parts(
            &self.environment,
            self.revision,
            parts.iter().map(|(name, json)| (*name, json.as_slice())),
        )
    }
}

impl ServiceSnapshot {
    /// The canonical JSON of this service: compact, object keys sorted.
    /// A server keeps it per service, so that sealing an environment after
    /// a change re-serializes only the services that changed.
    pub fn canonical_json(&self) -> Vec<u8> {
        // Through `Value`, whose maps sort their keys; structs serialize in
        // field order.
        serde_json::to_value(self)
            .and_then(|value| serde_json::to_vec(&value))
            .unwrap_or_default()
    }
}

/// Seals a snapshot from its services' canonical JSON, given in name order
/// (as a `BTreeMap` iterates): the same bytes as [`Snapshot::seal`], which
/// is built on it.
pub fn seal_parts<'a>(
    environment: &str,
    revision: u64,
    services: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> SealedSnapshot {
    let services: Vec<(&str, &[u8])> = services.into_iter().collect();
    let digests: Vec<String> = services.iter().map(|(_, json)| part_digest(json)).collect();
    let checksum = checksum(
        environment,
        revision,
        services
            .iter()
            .zip(&digests)
            .map(|((name, _), digest)| (*name, digest.as_str())),
    );
    let json = assemble(&checksum, environment, revision, services);
    SealedSnapshot { json, checksum }
}

/// The digest a snapshot's checksum is built from for one service: the hex
/// sha256 of its canonical JSON. A server computes it once per change of
/// the service and reuses it for every snapshot the service is part of.
pub fn part_digest(canonical: &[u8]) -> String {
    hex_sha256(canonical)
}

/// A snapshot's checksum, from its services' [`part_digest`]s in name
/// order: [`checksum_over`] their [`services_digest`].
pub fn checksum<'a>(
    environment: &str,
    revision: u64,
    digests: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    checksum_over(environment, revision, &services_digest(digests))
}

/// The hex sha256 of one line per service, in name order:
///
/// ```text
/// <service as a JSON string>:<its part digest>\n
/// ```
///
/// Names are JSON strings, so no two lists of services write the same
/// text. It depends on the services' content alone, not on the
/// environment or the revision: a server records it to know whether an
/// environment's content changed.
pub fn services_digest<'a>(digests: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut hash = Sha256::new();
    let mut line = Vec::with_capacity(160);
    for (name, digest) in digests {
        line.clear();
        push_string(&mut line, name);
        line.push(b':');
        line.extend_from_slice(digest.as_bytes());
        line.push(b'\n');
        hash.update(&line);
    }
    hex(&hash.finalize())
}

/// A snapshot's checksum given its [`services_digest`]: the hex sha256 of
///
/// ```text
/// setpoint-snapshot/2\n<environment as a JSON string>\n<revision>\n<services digest>\n
/// ```
///
/// Sealing an environment after a change hashes a line per service, not
/// every service's content again, and only once for both the content and
/// the checksum.
pub fn checksum_over(environment: &str, revision: u64, services_digest: &str) -> String {
    let mut text = Vec::with_capacity(160);
    text.extend_from_slice(b"setpoint-snapshot/2\n");
    push_string(&mut text, environment);
    text.push(b'\n');
    text.extend_from_slice(revision.to_string().as_bytes());
    text.push(b'\n');
    text.extend_from_slice(services_digest.as_bytes());
    text.push(b'\n');
    hex_sha256(&text)
}

/// The sealed JSON of a snapshot whose `checksum` is known: its services'
/// canonical JSON, in name order, inside the canonical outer object
/// (`checksum`, `environment`, `revision`, `services`, keys sorted).
pub fn assemble<'a>(
    checksum: &str,
    environment: &str,
    revision: u64,
    services: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<u8> {
    let services = services.into_iter();
    let mut json = Vec::with_capacity(4096);
    json.extend_from_slice(b"{\"checksum\":");
    push_string(&mut json, checksum);
    json.extend_from_slice(b",\"environment\":");
    push_string(&mut json, environment);
    json.extend_from_slice(b",\"revision\":");
    json.extend_from_slice(revision.to_string().as_bytes());
    json.extend_from_slice(b",\"services\":{");
    for (index, (name, canonical)) in services.enumerate() {
        if index > 0 {
            json.push(b',');
        }
        push_string(&mut json, name);
        json.push(b':');
        json.extend_from_slice(canonical);
    }
    json.extend_from_slice(b"}}");
    json
}

/// `text` as a JSON string, as `serde_json` writes it.
fn push_string(out: &mut Vec<u8>, text: &str) {
    // Names are plain in practice: only quotes, backslashes and control
    // characters are escaped (serde_json leaves the rest as UTF-8).
    if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a `&str` cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            use std::fmt::Write;
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Why bytes are not a sealed snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// They do not parse as JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// They are JSON without a `checksum` string at the top.
    #[error("the snapshot carries no checksum")]
    NoChecksum,
    /// The content does not hash to the checksum it carries.
    #[error("checksum mismatch: carries {carried}, content hashes to {actual}")]
    Mismatch {
        /// The checksum in the bytes.
        carried: String,
        /// What the content hashes to.
        actual: String,
    },
    /// The checksum holds but the content is not a snapshot.
    #[error("not a snapshot: {0}")]
    NotSnapshot(String),
}

/// Checks a sealed snapshot's bytes against the checksum they carry, and
/// returns the snapshot. This is what agents and SDKs run before trusting
/// what they fetched.
pub fn verify(json: &[u8]) -> Result<Snapshot, VerifyError> {
    verify_checksum(json).map(|(snapshot, _)| snapshot)
}

/// [`verify`], also returning the checksum the snapshot carries.
pub fn verify_checksum(json: &[u8]) -> Result<(Snapshot, String), VerifyError> {
    let mut value: Value =
        serde_json::from_slice(json).map_err(|e| VerifyError::NotJson(e.to_string()))?;
    let carried = value
        .as_object_mut()
        .and_then(|map| map.remove("checksum"))
        .and_then(|c| c.as_str().map(str::to_owned))
        .ok_or(VerifyError::NoChecksum)?;
    let actual = checksum_of(&value);
    // Snapshots sealed before the per-service checksum (format 1: the
    // sha256 of the whole canonical JSON) still verify, so that a cached
    // or delivered snapshot outlives an upgrade.
    if actual.as_ref() != Some(&carried) && legacy_checksum_of(&value) != carried {
        return Err(VerifyError::Mismatch {
            carried,
            actual: actual.unwrap_or_default(),
        });
    }
    let snapshot =
        serde_json::from_value(value).map_err(|e| VerifyError::NotSnapshot(e.to_string()))?;
    Ok((snapshot, carried))
}

/// [`checksum`] of a parsed snapshot without its `checksum` field: each
/// service re-serialized canonically (compact, object keys sorted —
/// `serde_json::Map` is a `BTreeMap`, as this crate relies on). `None`
/// when it lacks the fields a snapshot has.
fn checksum_of(value: &Value) -> Option<String> {
    let environment = value.get("environment")?.as_str()?;
    let revision = value.get("revision")?.as_u64()?;
    let services = value.get("services")?.as_object()?;
    let digests: Vec<(&str, String)> = services
        .iter()
        .map(|(name, service)| {
            let canonical = serde_json::to_vec(service).unwrap_or_default();
            (name.as_str(), part_digest(&canonical))
        })
        .collect();
    Some(checksum(
        environment,
        revision,
        digests
            .iter()
            .map(|(name, digest)| (*name, digest.as_str())),
    ))
}

/// Format 1's checksum: the hex sha256 of the whole canonical JSON.
fn legacy_checksum_of(value: &Value) -> String {
    hex_sha256(&serde_json::to_vec(value).unwrap_or_default())
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
    fn a_service_configures_an_environment_by_override_flag_or_breaker() {
        let bare: ServiceDoc = serde_json::from_value(json!({
            "service": "bare",
            "schema": {"n": {"type": "int", "default": 1}},
            "values": {"dev": {}}
        }))
        .expect("a document");
        assert!(
            !bare.configures("dev"),
            "an empty set of overrides is nothing"
        );
        let mut doc = bare.clone();
        doc.values
            .insert("staging".into(), [("n".to_string(), json!(2))].into());
        assert!(doc.configures("staging") && !doc.configures("prod"));
        let mut flagged = bare.clone();
        flagged.flags.insert(
            "f".into(),
            serde_json::from_value(json!({
                "variants": {"on": true, "off": false}, "off": "off",
                "environments": {"prod": {"enabled": false, "default": {"variant": "off"}}}
            }))
            .expect("a flag"),
        );
        assert!(flagged.configures("prod") && !flagged.configures("dev"));
        let mut guarded = bare;
        guarded.breakers.insert(
            "b".into(),
            serde_json::from_value(json!({"environments": ["prod"]})).expect("a breaker"),
        );
        assert!(guarded.configures("prod") && !guarded.configures("staging"));
        guarded
            .breakers
            .get_mut("b")
            .expect("b")
            .environments
            .clear();
        assert!(
            guarded.configures("staging"),
            "a breaker of all environments is in each"
        );
    }

    #[test]
    fn sealed_snapshots_verify_and_tampering_is_caught() {
        let doc = example();
        let states =
            BTreeMap::from([("payments-provider".to_string(), BreakerState::AwaitingClose)]);
        let snapshot = Snapshot {
            environment: "prod".into(),
            revision: 7,
            services: BTreeMap::from([(
                "checkout".to_string(),
                doc.snapshot("prod", &states, None),
            )]),
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
        assert!(matches!(
            verify(tampered.as_bytes()),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn the_checksum_is_the_documented_hash_of_the_parts_digests() {
        let doc = example();
        let checkout = doc
            .snapshot("prod", &BTreeMap::new(), None)
            .canonical_json();
        let search = b"{\"breakers\":{},\"config\":{},\"flags\":{}}".to_vec();
        let sealed = seal_parts(
            "prod",
            9,
            [("checkout", &checkout[..]), ("search", &search[..])],
        );
        let lines = format!(
            "\"checkout\":{}\n\"search\":{}\n",
            hex_sha256(&checkout),
            hex_sha256(&search)
        );
        let text = format!(
            "setpoint-snapshot/2\n\"prod\"\n9\n{}\n",
            hex_sha256(lines.as_bytes())
        );
        assert_eq!(sealed.checksum, hex_sha256(text.as_bytes()));
        assert!(verify(&sealed.json).is_ok());
    }

    #[test]
    fn names_are_written_as_serde_json_writes_them() {
        for name in [
            "checkout",
            "pr\"od",
            "a\\b",
            "tab\there",
            "caf\u{e9}",
            "\u{1f}",
        ] {
            let mut ours = Vec::new();
            push_string(&mut ours, name);
            assert_eq!(
                ours,
                serde_json::to_vec(name).expect("serializes"),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_snapshot_sealed_in_format_1_still_verifies() {
        let doc = example();
        let snapshot = Snapshot {
            environment: "prod".into(),
            revision: 3,
            services: BTreeMap::from([(
                "checkout".to_string(),
                doc.snapshot("prod", &BTreeMap::new(), None),
            )]),
        };
        let mut value = serde_json::to_value(&snapshot).expect("serializes");
        let legacy = legacy_checksum_of(&value);
        value
            .as_object_mut()
            .expect("object")
            .insert("checksum".into(), Value::String(legacy.clone()));
        let json = serde_json::to_vec(&value).expect("serializes");
        assert_eq!(verify_checksum(&json), Ok((snapshot, legacy)));
        let tampered = String::from_utf8(json)
            .expect("utf-8")
            .replace("\"revision\":3", "\"revision\":4");
        assert!(matches!(
            verify(tampered.as_bytes()),
            Err(VerifyError::Mismatch { .. })
        ));
    }

    #[test]
    fn composed_seal_equals_the_canonical_form_of_the_whole() {
        // `seal_parts` writes the outer object by hand; it must produce the
        // bytes serde_json would, names needing escapes included.
        let doc = example();
        let snapshot = Snapshot {
            environment: "pr\"od\u{e9}".into(),
            revision: 42,
            services: BTreeMap::from([
                (
                    "z-last".to_string(),
                    doc.snapshot("prod", &BTreeMap::new(), None),
                ),
                (
                    "a\\first".to_string(),
                    doc.snapshot("dev", &BTreeMap::new(), None),
                ),
            ]),
        };
        let sealed = snapshot.seal();
        let mut value = serde_json::to_value(&snapshot).expect("serializes");
        assert_eq!(Some(sealed.checksum.clone()), checksum_of(&value));
        value
            .as_object_mut()
            .expect("object")
            .insert("checksum".into(), Value::String(sealed.checksum.clone()));
        assert_eq!(
            String::from_utf8(sealed.json).expect("utf-8"),
            serde_json::to_string(&value).expect("serializes")
        );
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
