//! Where an agent publishes snapshots beside the pods, and how a reader
//! finds them: the etcd key layout, the file layout, and [`Published`] —
//! the pointer both carry. `setpoint-agent` writes this layout and
//! `setpoint-client` reads it, so it is declared once, here.
//!
//! etcd, under `<prefix>/<environment>/`:
//!
//! - `services/<service>/<revision, 20 digits>`: the service's sealed
//!   snapshot (a snapshot of the environment holding that one service),
//!   sealed at the revision its content was first written at;
//! - `snapshots/<revision, 20 digits>`: the whole sealed snapshot;
//! - `meta`: a [`Published`], the pointer readers follow. Every other key
//!   is immutable once written, so a reader that follows `meta` reads one
//!   whole snapshot, never a mix.
//!
//! Files, under `<dir>/<environment>/`: `services/<service>.json`,
//! `snapshot.json` and `meta.json` (written last), each replaced by a
//! rename.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The etcd prefix agents write under and readers read from unless told.
pub const DEFAULT_ETCD_PREFIX: &str = "/setpoint";

/// What a sink holds: written beside the snapshot as etcd's `meta` key and
/// as `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The revision.
    pub revision: u64,
    /// The checksum of the whole snapshot.
    pub checksum: String,
    /// Its services, each with the revision its part was sealed at (etcd
    /// keeps a part that did not change under its first revision; files
    /// are all sealed at `revision`).
    pub services: BTreeMap<String, u64>,
    /// Whether the whole snapshot is stored beside the services (etcd
    /// leaves it out when larger than one request may carry).
    pub whole: bool,
    /// When it was written (RFC 3339, the agent's clock).
    pub written_at: String,
    /// Which agent wrote it.
    pub cluster: String,
    /// And for which namespace.
    pub namespace: String,
    /// The agent's version.
    pub agent: String,
}

/// The keys of one environment in etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLayout {
    /// `<prefix>/<environment>`.
    base: String,
}

impl EtcdLayout {
    /// The layout under `prefix` (e.g. `/setpoint`) for `environment`.
    pub fn new(prefix: &str, environment: &str) -> Self {
        Self {
            base: format!("{}/{environment}", prefix.trim_end_matches('/')),
        }
    }

    /// `<prefix>/<environment>`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The pointer readers watch.
    pub fn meta(&self) -> String {
        format!("{}/meta", self.base)
    }

    /// `service`'s part sealed at `revision`. Twenty digits, so that keys
    /// sort by revision.
    pub fn part(&self, service: &str, revision: u64) -> String {
        format!("{}/services/{service}/{revision:020}", self.base)
    }

    /// The whole snapshot at `revision`.
    pub fn snapshot(&self, revision: u64) -> String {
        format!("{}/snapshots/{revision:020}", self.base)
    }

    /// The prefixes under which parts and snapshots are stored.
    pub fn stored_prefixes(&self) -> [String; 2] {
        [
            format!("{}/services/", self.base),
            format!("{}/snapshots/", self.base),
        ]
    }
}

/// The files of one environment, relative to `<dir>/<environment>/`.
pub mod files {
    /// The pointer, written last.
    pub const META: &str = "meta.json";
    /// The whole snapshot.
    pub const SNAPSHOT: &str = "snapshot.json";
    /// The directory of the services' parts.
    pub const SERVICES: &str = "services";

    /// `service`'s part, inside [`SERVICES`].
    pub fn part(service: &str) -> String {
        format!("{service}.json")
    }
}

/// Whether `name` may become an etcd key segment or a file name: nothing
/// that could climb out of a prefix or a directory.
pub fn is_safe_service_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_revision_under_the_environment() {
        let layout = EtcdLayout::new("/setpoint/", "prod");
        assert_eq!(layout.meta(), "/setpoint/prod/meta");
        assert_eq!(
            layout.part("checkout", 42),
            "/setpoint/prod/services/checkout/00000000000000000042"
        );
        assert!(layout.part("a", 9) < layout.part("a", 10));
        assert_eq!(
            layout.snapshot(7),
            "/setpoint/prod/snapshots/00000000000000000007"
        );
        assert!(layout.stored_prefixes()[0].ends_with("/services/"));
    }

    #[test]
    fn only_plain_names_are_safe() {
        for good in ["checkout", "a.b_c-1"] {
            assert!(is_safe_service_name(good), "{good}");
        }
        for bad in ["", ".hidden", "..", "a/b", "a b", "ü"] {
            assert!(!is_safe_service_name(bad), "{bad}");
        }
    }
}
