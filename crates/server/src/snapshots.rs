//! Materialized snapshots: for each environment, every live service's
//! part (its canonical JSON, sealed on its own, and its flags prepared),
//! rebuilt by the writer for the services a batch touched and swapped in
//! atomically once it commits; the environment's checksum comes from the
//! parts' digests and its body is assembled by the first reader, so a
//! write's cost does not grow with the environment. Readers clone an `Arc`
//! and never wait for writers; long-polls and watchers wait on the
//! environment's `watch` channel.
//!
//! A snapshot's revision is that of the last change that altered its
//! content. The writer stores a [`SnapshotMark`] (revision and content
//! hash) for every part it rebuilds, in the batch's transaction, so that a
//! restart serves the very same revisions and `ETag`s: restarting a
//! replica must not look like a change to every watcher.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, OnceLock, RwLock},
};

use axum::{
    body::Bytes,
    http::{HeaderMap, HeaderValue, header::IF_NONE_MATCH},
};
use setpoint_core::{
    ServiceSnapshot,
    snapshot::{assemble, checksum, checksum_over, part_digest, services_digest},
};
use tokio::sync::watch;

use crate::{ofrep::FlagSet, store::SnapshotMark, world::World};

/// One environment's snapshot, serialized once.
#[derive(Debug)]
pub struct EnvSnapshot {
    /// The environment.
    pub environment: String,
    /// The revision of the last change that altered this environment.
    pub revision: u64,
    /// The checksum (`setpoint_core::snapshot::checksum`), from the parts'
    /// digests.
    pub checksum: String,
    /// The checksum as an `ETag` header value, quoted once here rather than
    /// per request.
    pub etag: HeaderValue,
    /// The sealed JSON, assembled from the parts by the first reader: the
    /// writer's cost per change must not grow with the environment.
    json: OnceLock<Bytes>,
    /// The digest of the services' digests (`services_digest`): what a
    /// [`SnapshotMark`] records.
    pub content: String,
    /// Per service, for `…/snapshot/{service}`; shared with the next
    /// snapshot when unchanged.
    pub services: Parts,
}

/// An environment's parts by service: a persistent map, so the next
/// snapshot shares the unchanged ones (and the tree holding them).
pub type Parts = imbl::OrdMap<String, Arc<ServicePart>>;

/// One service's part of an environment snapshot, sealed on its own.
#[derive(Debug)]
pub struct ServicePart {
    /// The resolved service.
    pub snapshot: Arc<ServiceSnapshot>,
    /// The revision of the last change that altered this part.
    pub revision: u64,
    /// The checksum of the snapshot holding only this service.
    pub checksum: String,
    /// The checksum as an `ETag` header value.
    pub etag: HeaderValue,
    /// The sealed JSON of a snapshot holding only this service, assembled
    /// by its first reader (see [`ServicePart::json`]).
    json: OnceLock<Bytes>,
    /// The service's own canonical JSON, reused to seal the environment.
    pub canonical: Bytes,
    /// The sha256 of `canonical` (its `part_digest`): what the
    /// environment's checksum is built from, and what a [`SnapshotMark`]
    /// records.
    pub content: String,
    /// Its flags, prepared for OFREP requests.
    pub flags: FlagSet,
}

impl EnvSnapshot {
    /// The sealed JSON, served as is.
    pub fn json(&self) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(assemble(
                    &self.checksum,
                    &self.environment,
                    self.revision,
                    self.services
                        .iter()
                        .map(|(service, part)| (service.as_str(), &part.canonical[..])),
                ))
            })
            .clone()
    }
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
        self.prepare_marked(world, touched, &[])
    }

    /// [`prepare`](Self::prepare) for a replica following another's
    /// commits: a part whose content is what the writer recorded in
    /// `marks` gets the writer's revision, so every replica serves the
    /// same revisions and `ETag`s.
    pub fn prepare_marked(
        &self,
        world: &World,
        touched: &BTreeSet<String>,
        marks: &[SnapshotMark],
    ) -> Prepared {
        let marks = Marks::of(marks);
        let environments = self
            .environments
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut prepared = Prepared::default();
        for name in world.environments.keys() {
            let previous = environments.get(name).map(|tx| tx.borrow().clone());
            if let Some(built) = build(name, world, previous.as_deref(), Some(touched), &marks) {
                prepared.push(built);
            }
        }
        prepared
    }

    /// Swaps in prepared snapshots, waking their watchers.
    pub fn publish(&self, prepared: Prepared) {
        let mut environments = self
            .environments
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for next in prepared.snapshots {
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
        let marks = Marks::of(marks);
        let mut prepared = Prepared::default();
        for name in world.environments.keys() {
            if let Some(built) = build(name, world, None, None, &marks) {
                prepared.push(built);
            }
        }
        self.publish(prepared);
    }
}

/// Snapshots built for a batch, not yet published.
#[derive(Debug, Default)]
pub struct Prepared {
    snapshots: Vec<EnvSnapshot>,
    marks: Vec<SnapshotMark>,
}

impl Prepared {
    /// What the batch must store so a restart serves the same revisions:
    /// each rebuilt environment, and each part it rebuilt.
    pub fn marks(&self) -> Vec<SnapshotMark> {
        self.marks.clone()
    }

    /// Adds an environment's snapshot and the parts sealed for it.
    fn push(&mut self, (snapshot, sealed): Built) {
        self.marks.push(SnapshotMark {
            environment: snapshot.environment.clone(),
            service: None,
            revision: snapshot.revision,
            content: snapshot.content.clone(),
        });
        self.marks
            .extend(sealed.into_iter().map(|(service, part)| SnapshotMark {
                environment: snapshot.environment.clone(),
                service: Some(service),
                revision: part.revision,
                content: part.content.clone(),
            }));
        self.snapshots.push(snapshot);
    }
}

/// Recorded revisions by (environment, service or `None` for the whole).
#[derive(Debug, Default)]
struct Marks(BTreeMap<(String, Option<String>), (u64, String)>);

impl Marks {
    fn of(marks: &[SnapshotMark]) -> Self {
        Self(
            marks
                .iter()
                .map(|m| {
                    (
                        (m.environment.clone(), m.service.clone()),
                        (m.revision, m.content.clone()),
                    )
                })
                .collect(),
        )
    }

    /// The recorded revision of `key` if its content is still `content`.
    fn revision(&self, key: (&str, Option<&str>), content: &str) -> Option<u64> {
        self.0
            .get(&(key.0.to_string(), key.1.map(str::to_owned)))
            .filter(|(_, recorded)| recorded == content)
            .map(|(revision, _)| *revision)
    }
}

/// The environment's new snapshot, or `None` when nothing in it changed.
/// With a `previous` snapshot and the `touched` services, only those are
/// looked at: the parts map is shared with `previous` and updated in place
/// (a persistent map), so a write's cost does not grow with the number of
/// services in the environment.
fn build(
    name: &str,
    world: &World,
    previous: Option<&EnvSnapshot>,
    touched: Option<&BTreeSet<String>>,
    marks: &Marks,
) -> Option<Built> {
    let (mut services, candidates): (Parts, Box<dyn Iterator<Item = &String>>) =
        match (previous, touched) {
            (Some(previous), Some(touched)) => {
                (previous.services.clone(), Box::new(touched.iter()))
            }
            _ => (Parts::new(), Box::new(world.services.keys())),
        };
    let mut changed = previous.is_none();
    let mut sealed = Vec::new();
    // Each part is judged and sealed on its own — its canonical JSON and
    // hash are what a large batch (an import) spends its time on — so a
    // large batch seals on every core.
    let candidates: Vec<&String> = candidates.collect();
    let judged = in_parallel(&candidates, |service| {
        // A tombstoned service is still served, marked, until reclaimed.
        let record = world.services.get(*service)?;
        let snapshot =
            record
                .doc
                .snapshot(name, &record.states_in(name), record.tombstone.as_ref());
        let before = previous.and_then(|p| p.services.get(*service));
        Some(match before.filter(|part| *part.snapshot == snapshot) {
            Some(part) => (Arc::clone(part), false),
            None => (
                Arc::new(seal_service(name, service, snapshot, world.revision, marks)),
                true,
            ),
        })
    });
    for (service, judged) in candidates.into_iter().zip(judged) {
        let Some((part, new)) = judged else {
            changed |= services.remove(service).is_some();
            continue;
        };
        if new {
            changed = true;
            sealed.push((service.clone(), Arc::clone(&part)));
        }
        services.insert(service.clone(), part);
    }
    if previous.is_some_and(|previous| previous.services.len() != services.len()) {
        changed = true;
    }
    if !changed {
        return None;
    }
    // Whatever changed, this snapshot includes every change up to now —
    // unless it is what was recorded before a restart. Both hashes read a
    // line per service: the parts' digests, not their content.
    let digests = || {
        services
            .iter()
            .map(|(service, part)| (service.as_str(), part.content.as_str()))
    };
    let content = services_digest(digests());
    let revision = marks
        .revision((name, None), &content)
        .unwrap_or(world.revision);
    let checksum = checksum_over(name, revision, &content);
    let snapshot = EnvSnapshot {
        environment: name.to_string(),
        revision,
        etag: etag(&checksum),
        checksum,
        json: OnceLock::new(),
        content,
        services,
    };
    Some((snapshot, sealed))
}

/// An environment's new snapshot, with the parts sealed for it by name.
type Built = (EnvSnapshot, Vec<(String, Arc<ServicePart>)>);

/// Below this many items, threads cost more than they save: a write
/// usually touches one service.
const PARALLEL_FROM: usize = 64;

/// `work` over every item, in order, on every core when there are many.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if threads < 2 || items.len() < PARALLEL_FROM {
        return items.iter().map(work).collect();
    }
    let work = &work;
    std::thread::scope(|scope| {
        let running: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|chunk| scope.spawn(move || chunk.iter().map(work).collect::<Vec<R>>()))
            .collect();
        running
            .into_iter()
            .flat_map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
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
    let content = part_digest(&canonical);
    let revision = marks
        .revision((environment, Some(service)), &content)
        .unwrap_or(revision);
    let checksum = checksum(environment, revision, [(service, content.as_str())]);
    ServicePart {
        flags: FlagSet::new(service, &snapshot.flags),
        snapshot: Arc::new(snapshot),
        revision,
        etag: etag(&checksum),
        json: OnceLock::new(),
        checksum,
        canonical,
        content,
    }
}

impl ServicePart {
    /// The sealed JSON of a snapshot holding only this service — `service`
    /// of `environment`, as this part is — assembled once, by its first
    /// reader: an import seals thousands of parts few will read alone.
    pub fn json(&self, environment: &str, service: &str) -> Bytes {
        self.json
            .get_or_init(|| {
                Bytes::from(assemble(
                    &self.checksum,
                    environment,
                    self.revision,
                    [(service, &self.canonical[..])],
                ))
            })
            .clone()
    }
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
