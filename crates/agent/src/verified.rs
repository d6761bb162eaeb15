//! A snapshot the agent may write: its checksum verified, cut to the
//! agent's services; each service can be sealed on its own, so that a pod
//! can verify the one key it reads, and carries a fingerprint of its
//! content, so that a sink rewrites only the services that changed.

use std::collections::BTreeMap;

use serde::Deserialize;
use setpoint_core::{Snapshot, delivery::is_safe_service_name, seal_parts, snapshot::verify};

/// A verified snapshot, ready for the sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The environment.
    pub environment: String,
    /// Its revision.
    pub revision: u64,
    /// Its checksum (of [`Verified::json`]).
    pub checksum: String,
    /// The whole sealed snapshot of the agent's services.
    pub json: Vec<u8>,
    /// Each service's part, by name.
    pub services: BTreeMap<String, Part>,
}

/// One service of a verified snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its canonical JSON.
    pub canonical: Vec<u8>,
    /// A fingerprint of its content (environment, name and canonical JSON,
    /// without a revision): equal when nothing in the service changed.
    pub content: String,
}

impl Verified {
    /// `name`'s part sealed on its own at `revision`: a snapshot of the
    /// environment holding that one service, which verifies by itself.
    pub fn sealed_part(&self, name: &str, revision: u64) -> Option<Vec<u8>> {
        let part = self.services.get(name)?;
        Some(
            seal_parts(
                &self.environment,
                revision,
                [(name, part.canonical.as_slice())],
            )
            .json,
        )
    }
}

#[derive(Deserialize)]
struct Checksum {
    checksum: String,
}

impl Verified {
    /// Verifies `bytes` as a sealed snapshot of `environment` and keeps
    /// `only` those services (all when `None`).
    pub fn new(bytes: &[u8], environment: &str, only: Option<&[String]>) -> Result<Self, String> {
        let mut snapshot: Snapshot = verify(bytes).map_err(|e| e.to_string())?;
        if snapshot.environment != environment {
            return Err(format!(
                "it is a snapshot of {:?}, not of {environment:?}",
                snapshot.environment
            ));
        }
        // Service names become etcd keys and file names: nothing that could
        // climb out of a directory or a prefix.
        if let Some(bad) = snapshot
            .services
            .keys()
            .find(|name| !is_safe_service_name(name))
        {
            return Err(format!("service name {bad:?} is not a safe key"));
        }
        let canonical: Vec<(String, Vec<u8>)> = {
            if let Some(only) = only {
                snapshot.services.retain(|name, _| only.contains(name));
            }
            snapshot
                .services
                .iter()
                .map(|(name, service)| (name.clone(), service.canonical_json()))
                .collect()
        };
        let (json, checksum) = if only.is_some() {
            // Resealed over the kept services: the sinks hold a snapshot
            // that verifies, not one with holes.
            let sealed = seal_parts(
                &snapshot.environment,
                snapshot.revision,
                canonical.iter().map(|(n, j)| (n.as_str(), j.as_slice())),
            );
            (sealed.json, sealed.checksum)
        } else {
            let Checksum { checksum } =
                serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
            (bytes.to_vec(), checksum)
        };
        let services = canonical
            .into_iter()
            .map(|(name, canonical)| {
                // Sealed at revision 0, the checksum fingerprints the
                // content alone.
                let content =
                    seal_parts(&snapshot.environment, 0, [(name.as_str(), &canonical[..])])
                        .checksum;
                (name, Part { canonical, content })
            })
            .collect();
        Ok(Self {
            environment: snapshot.environment,
            revision: snapshot.revision,
            checksum,
            json,
            services,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use setpoint_core::{ServiceDoc, Snapshot};

    use super::*;

    fn sealed(revision: u64) -> Vec<u8> {
        let doc: ServiceDoc =
            serde_json::from_str(include_str!("../../../examples/checkout.json")).expect("example");
        let part = doc.snapshot("prod", &BTreeMap::new(), None);
        Snapshot {
            environment: "prod".into(),
            revision,
            services: [
                ("checkout".to_string(), part.clone()),
                ("search".to_string(), part),
            ]
            .into_iter()
            .collect(),
        }
        .seal()
        .json
    }

    #[test]
    fn keeps_central_bytes_and_seals_each_service_alone() {
        let bytes = sealed(7);
        let verified = Verified::new(&bytes, "prod", None).expect("verifies");
        assert_eq!(verified.json, bytes);
        assert_eq!(verified.revision, 7);
        assert_eq!(verified.services.len(), 2);
        for name in verified.services.keys() {
            let part = verified.sealed_part(name, 5).expect("a part");
            let alone = verify(&part).expect("each part verifies on its own");
            assert_eq!((alone.revision, alone.services.len()), (5, 1));
        }
        let later = Verified::new(&sealed(8), "prod", None).expect("verifies");
        assert_eq!(
            later.services["search"].content, verified.services["search"].content,
            "the same content at another revision has the same fingerprint"
        );
        assert_ne!(
            verified.services["search"].content,
            verified.services["checkout"].content
        );
    }

    #[test]
    fn cut_to_services_is_resealed() {
        let only = vec!["search".to_string()];
        let verified = Verified::new(&sealed(3), "prod", Some(&only)).expect("verifies");
        let whole = verify(&verified.json).expect("the cut verifies");
        assert_eq!(whole.services.keys().collect::<Vec<_>>(), ["search"]);
        assert_eq!(verified.services.keys().collect::<Vec<_>>(), ["search"]);
    }

    #[test]
    fn refuses_tampering_and_other_environments() {
        let mut bytes = sealed(3);
        let at = bytes
            .windows(4)
            .position(|w| w == b"2000")
            .expect("a value to change");
        bytes[at] = b'9';
        assert!(Verified::new(&bytes, "prod", None).is_err_and(|e| e.contains("checksum")));
        assert!(Verified::new(&sealed(3), "dev", None).is_err_and(|e| e.contains("\"prod\"")));
        assert!(Verified::new(b"{}", "prod", None).is_err());
    }
}
