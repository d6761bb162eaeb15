//! Materialized snapshots: for each environment, the sealed canonical JSON
//! of every live service, rebuilt by the writer after each commit and
//! swapped in atomically. Readers clone an `Arc` and never wait for writers;
//! long-polls and watchers wait on the environment's `watch` channel.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, RwLock},
};

use axum::{body::Bytes, http::HeaderValue};
use setpoint_core::{ServiceSnapshot, seal_parts};
use tokio::sync::watch;

use crate::world::World;

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

    /// Rebuilds every environment from `world`, publishing only those whose
    /// content changed (so their watchers wake and revisions move).
    /// Only the services in `touched` are rebuilt (all when `None`, as at
    /// start-up): the others cannot have changed.
    pub fn update(&self, world: &World, touched: Option<&BTreeSet<String>>) {
        let mut environments = self
            .environments
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for name in world.environments.keys() {
            let previous = environments.get(name).map(|tx| tx.borrow().clone());
            if let Some(next) = build(name, world, previous.as_deref(), touched) {
                match environments.get(name) {
                    Some(tx) => {
                        tx.send_replace(Arc::new(next));
                    }
                    None => {
                        environments.insert(name.clone(), watch::Sender::new(Arc::new(next)));
                    }
                }
            }
        }
    }
}

/// The environment's new snapshot, or `None` when nothing in it changed.
fn build(
    name: &str,
    world: &World,
    previous: Option<&EnvSnapshot>,
    touched: Option<&BTreeSet<String>>,
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
            Arc::new(seal_service(name, service, snapshot, world.revision))
        };
        services.insert(service.clone(), part);
    }
    if let Some(previous) = previous {
        changed |= previous.services.len() != services.len();
        if !changed {
            return None;
        }
    }
    // Whatever changed, this snapshot includes every change up to now.
    let revision = world.revision;
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
        services,
    })
}

fn seal_service(
    environment: &str,
    service: &str,
    snapshot: ServiceSnapshot,
    revision: u64,
) -> ServicePart {
    let canonical = Bytes::from(snapshot.canonical_json());
    let sealed = seal_parts(environment, revision, [(service, &canonical[..])]);
    ServicePart {
        snapshot: Arc::new(snapshot),
        revision,
        etag: etag(&sealed.checksum),
        checksum: sealed.checksum,
        json: Bytes::from(sealed.json),
        canonical,
    }
}

/// `"<checksum>"`: hex digits only, so always a valid header value.
pub fn etag(checksum: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{checksum}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}
