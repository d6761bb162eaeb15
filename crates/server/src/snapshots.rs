//! Materialized snapshots: for each environment, the sealed canonical JSON
//! of every live service, prepared by the writer with each batch and
//! swapped in atomically once it commits. Readers clone an `Arc` and never
//! wait for writers; long-polls and watchers wait on the environment's
//! `watch` channel.
//!
//! A snapshot's revision is that of the last change that altered its
//! content. The writer stores a [`SnapshotMark`] (revision and content
//! hash) for every part it rebuilds, in the batch's transaction, so that a
//! restart serves the very same revisions and `ETag`s: restarting a
//! replica must not look like a change to every watcher.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, RwLock},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, header::IF_NONE_MATCH},
};
use setpoint_core::{ServiceSnapshot, seal_parts};
use tokio::sync::watch;

use crate::{ofrep::FlagSet, store::SnapshotMark, world::World};

/// One environment's snapshot, serialized once.
#[derive(Debug)]
pub struct EnvSnapshot {
    /// The environment.
    pub environment: String,
    /// The revision of the last change that altered this environment.
    pub revision: u64,
    /// The sha256 of the canonical content.
    pub checksum: String,
    /// The checksum as an `ETag` header value, quoted once here rather than
    /// per request.
    pub etag: HeaderValue,
    /// The sealed JSON, served as is.
    pub json: Bytes,
    /// The sha256 of the content without the revision: what a
    /// [`SnapshotMark`] records.
    pub content: String,
    /// Per service, for `…/snapshot/{service}`; shared with the next
    /// snapshot when unchanged.
    pub services: BTreeMap<String, Arc<ServicePart>>,
}

/// One service's part of an environment snapshot, sealed on its own.
#[derive(Debug)]
pub struct ServicePart {
    /// The resolved service.
    pub snapshot: Arc<ServiceSnapshot>,
    /// The revision of the last change that altered this part.
    pub revision: u64,
    /// The sha256 of its canonical content.
    pub checksum: String,
    /// The checksum as an `ETag` header value.
    pub etag: HeaderValue,
    /// The sealed JSON of a snapshot holding only this service.
    pub json: Bytes,
    /// The service's own canonical JSON, reused to seal the environment.
    pub canonical: Bytes,
    /// The sha256 of `canonical`: what a [`SnapshotMark`] records.
    pub content: String,
    /// Its flags, prepared for OFREP requests.
    pub flags: FlagSet,
}

/// All environments' snapshots.
#[derive(Debug, Default)]
pub struct Snapshots {
    environments: RwLock<BTreeMap<String, watch::Sender<Arc<EnvSnapshot>>>>,
}

impl Snapshots {
    /// A receiver for an environment's snapshot, if the environment exists.
    pub fn watch(&self, environment: &str) -> Option<watch::Receiver<Arc<EnvSnapshot>>> {
        self.environments
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(environment)
            .map(watch::Sender::subscribe)
    }

    /// The current snapshot of an environment.
    pub fn current(&self, environment: &str) -> Option<Arc<EnvSnapshot>> {
        self.watch(environment).map(|rx| rx.borrow().clone())
    }

    /// The snapshots of every environment whose content `world` changes,
    /// to [`publish`](Self::publish) once the batch that made `world`
    /// commits. Only the services in `touched` are rebuilt: the others
    /// cannot have changed.
    pub fn prepare(&self, world: &World, touched: &BTreeSet<String>) -> Prepared {
        let environments = self
            .environments
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Prepared(
            world
                .environments
                .keys()
                .filter_map(|name| {
                    let previous = environments.get(name).map(|tx| tx.borrow().clone());
                    build(
                        name,
                        world,
                        previous.as_deref(),
                        Some(touched),
                        &Marks::default(),
                    )
                })
                .collect(),
        )
    }

    /// Swaps in prepared snapshots, waking their watchers.
    pub fn publish(&self, prepared: Prepared) {
        let mut environments = self
            .environments
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for next in prepared.0 {
            match environments.get(&next.environment) {
                Some(tx) => {
                    tx.send_replace(Arc::new(next));
                }
                None => {
                    environments
                        .insert(next.environment.clone(), watch::Sender::new(Arc::new(next)));
                }
            }
        }
    }

    /// Builds every environment from `world` at start-up; a part (or a
    /// whole environment) whose content is what `marks` recorded keeps the
    /// revision recorded with it.
    pub fn restore(&self, world: &World, marks: &[SnapshotMark]) {
        let marks = Marks(
            marks
                .iter()
                .map(|m| {
                    (
                        (m.environment.clone(), m.service.clone()),
                        (m.revision, m.content.clone()),
                    )
                })
                .collect(),
        );
        let prepared = world
            .environments
            .keys()
            .filter_map(|name| build(name, world, None, None, &marks))
            .collect();
        self.publish(Prepared(prepared));
    }
}

/// Snapshots built for a batch, not yet published.
#[derive(Debug, Default)]
pub struct Prepared(Vec<EnvSnapshot>);

impl Prepared {
    /// What the batch must store so a restart serves the same revisions:
    /// each rebuilt environment, and each part it rebuilt.
    pub fn marks(&self) -> Vec<SnapshotMark> {
        let mut marks = Vec::new();
        for snapshot in &self.0 {
            marks.push(SnapshotMark {
                environment: snapshot.environment.clone(),
                service: None,
                revision: snapshot.revision,
                content: snapshot.content.clone(),
            });
            marks.extend(
                snapshot
                    .services
                    .iter()
                    .filter(|(_, part)| part.revision == snapshot.revision)
                    .map(|(service, part)| SnapshotMark {
                        environment: snapshot.environment.clone(),
                        service: Some(service.clone()),
                        revision: part.revision,
                        content: part.content.clone(),
                    }),
            );
        }
        marks
    }
}

/// Recorded revisions by (environment, service or `None` for the whole).
#[derive(Debug, Default)]
struct Marks(BTreeMap<(String, Option<String>), (u64, String)>);

impl Marks {
    /// The recorded revision of `key` if its content is still `content`.
    fn revision(&self, key: (&str, Option<&str>), content: &str) -> Option<u64> {
        self.0
            .get(&(key.0.to_string(), key.1.map(str::to_owned)))
            .filter(|(_, recorded)| recorded == content)
            .map(|(revision, _)| *revision)
    }
}

/// The environment's new snapshot, or `None` when nothing in it changed.
fn build(
    name: &str,
    world: &World,
    previous: Option<&EnvSnapshot>,
    touched: Option<&BTreeSet<String>>,
    marks: &Marks,
) -> Option<EnvSnapshot> {
    let mut services = BTreeMap::new();
    let mut changed = previous.is_none();
    for (service, record) in &world.services {
        if record.tombstone.is_some() {
            continue;
        }
        let before = previous.and_then(|p| p.services.get(service));
        if let Some(part) = before.filter(|_| touched.is_some_and(|t| !t.contains(service))) {
            services.insert(service.clone(), Arc::clone(part));
            continue;
        }
        let snapshot = record.doc.snapshot(name, &record.states_in(name));
        let part = if let Some(part) = before.filter(|part| *part.snapshot == snapshot) {
            Arc::clone(part)
        } else {
            changed = true;
            Arc::new(seal_service(name, service, snapshot, world.revision, marks))
        };
        services.insert(service.clone(), part);
    }
    if let Some(previous) = previous {
        changed |= previous.services.len() != services.len();
        if !changed {
            return None;
        }
    }
    // Whatever changed, this snapshot includes every change up to now —
    // unless it is what was recorded before a restart.
    let content = content_hash(
        services
            .iter()
            .map(|(service, part)| (service.as_str(), &part.canonical[..])),
    );
    let revision = marks
        .revision((name, None), &content)
        .unwrap_or(world.revision);
    let sealed = seal_parts(
        name,
        revision,
        services
            .iter()
            .map(|(service, part)| (service.as_str(), &part.canonical[..])),
    );
    Some(EnvSnapshot {
        environment: name.to_string(),
        revision,
        etag: etag(&sealed.checksum),
        checksum: sealed.checksum,
        json: Bytes::from(sealed.json),
        content,
        services,
    })
}

fn seal_service(
    environment: &str,
    service: &str,
    snapshot: ServiceSnapshot,
    revision: u64,
    marks: &Marks,
) -> ServicePart {
    let canonical = Bytes::from(snapshot.canonical_json());
    let content = content_hash([(service, &canonical[..])]);
    let revision = marks
        .revision((environment, Some(service)), &content)
        .unwrap_or(revision);
    let sealed = seal_parts(environment, revision, [(service, &canonical[..])]);
    ServicePart {
        flags: FlagSet::new(service, &snapshot.flags),
        snapshot: Arc::new(snapshot),
        revision,
        etag: etag(&sealed.checksum),
        checksum: sealed.checksum,
        json: Bytes::from(sealed.json),
        canonical,
        content,
    }
}

/// The sha256 of services' canonical JSON, named: a snapshot's content
/// without its revision.
fn content_hash<'a>(services: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, canonical) in services {
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(canonical);
        hash.update([0]);
    }
    crate::auth::hex(&hash.finalize())
}

/// Whether `headers` hold an `If-None-Match` that `etag` satisfies.
pub fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    headers.get(IF_NONE_MATCH).is_some_and(|v| {
        v.as_bytes()
            .split(|b| *b == b',')
            .map(<[u8]>::trim_ascii)
            .any(|tag| tag == etag || tag == b"*")
    })
}

/// `"<checksum>"`: hex digits only, so always a valid header value.
pub fn etag(checksum: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{checksum}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}
