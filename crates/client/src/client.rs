//! The client: the current snapshot behind one atomic pointer, the loads
//! that replace it, the bounded history, and the reads.
//!
//! Reads take the pointer (`arc-swap`: no lock, no contention with a load)
//! and index into what it points at. A load checks a payload completely
//! *before* taking the load lock, then, under it, decides on the order
//! (never back to a lower revision) and stores the new pointer: a reader
//! sees the old snapshot or the new one, never a mix, and never waits.

use std::{
    collections::{BTreeMap, VecDeque},
    path::PathBuf,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use arc_swap::{ArcSwap, Guard};
use serde_json::Value;
use setpoint_core::{Context, ErrorCode, Reason, Tombstone, seal_parts};
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    Breaker, BuildError, Flag, Key, ReadError, Rejection, RollbackError,
    loaded::Loaded,
    registry::Registration,
    setting::Setting,
    source::{Feed, Source},
};

/// Payloads larger than this are refused unread (a 2,000-key service is a
/// few hundred kilobytes).
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;
/// Snapshots kept for [`Client::history`] and [`Client::rollback`] unless
/// the builder says otherwise.
pub const DEFAULT_HISTORY: usize = 10;

/// Declares what the service reads, and where snapshots come from.
pub struct Builder {
    registration: Registration,
    duplicate: Option<BuildError>,
    sources: Vec<Box<dyn Source>>,
    cache: Option<PathBuf>,
    history: usize,
}

impl Builder {
    /// Registers a config key read as `T`, with the value read until a
    /// snapshot arrives.
    pub fn key<T: Setting>(&mut self, name: &str, default: T) -> Key<T> {
        self.note_duplicate("key", name);
        self.registration.key(name, default)
    }

    /// Registers a flag whose variants are `T`, with the value served until
    /// a snapshot arrives and whenever evaluation fails.
    pub fn flag<T: Setting>(&mut self, name: &str, default: T) -> Flag<T> {
        self.note_duplicate("flag", name);
        self.registration.flag(name, default)
    }

    /// Registers a breaker (closed until a snapshot says otherwise).
    pub fn breaker(&mut self, name: &str) -> Breaker {
        self.note_duplicate("breaker", name);
        self.registration.breaker(name)
    }

    fn note_duplicate(&mut self, kind: &'static str, name: &str) {
        if self.duplicate.is_none() && self.registration.has(kind, name) {
            self.duplicate = Some(BuildError::Duplicate {
                kind,
                name: name.to_owned(),
            });
        }
    }

    /// Refuses snapshots of any other environment.
    pub fn environment(&mut self, environment: &str) -> &mut Self {
        self.registration.environment = Some(environment.to_owned());
        self
    }

    /// Adds a source; each runs on its own task and offers what it reads.
    pub fn source(&mut self, source: impl Source) -> &mut Self {
        self.sources.push(Box::new(source));
        self
    }

    /// Keeps the last good snapshot in `path`, and starts from it.
    ///
    /// A pod restarted while every source is down then serves the config
    /// it last had rather than the compiled defaults. The trade-off: it
    /// may serve a snapshot that was superseded while it was down — but
    /// only a verified one, and only until any source answers.
    pub fn cache(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.cache = Some(path.into());
        self
    }

    /// How many snapshots [`Client::history`] keeps (at least one).
    pub fn history(&mut self, snapshots: usize) -> &mut Self {
        self.history = snapshots.max(1);
        self
    }

    /// The client, reading defaults (or the cache) until a source delivers;
    /// its sources start now, on the current Tokio runtime.
    pub fn build(self) -> Result<Client, BuildError> {
        if let Some(duplicate) = self.duplicate {
            return Err(duplicate);
        }
        let runtime = tokio::runtime::Handle::try_current();
        if !self.sources.is_empty() && runtime.is_err() {
            return Err(BuildError::NoRuntime);
        }
        let defaults = Arc::new(Loaded::defaults(&self.registration));
        let (changes, _) = watch::channel(0);
        let client = Client {
            inner: Arc::new(Inner {
                current: ArcSwap::new(defaults),
                loads: Mutex::new(Loads {
                    history: VecDeque::new(),
                    pinned: false,
                    failures: BTreeMap::new(),
                    last_failure: None,
                }),
                changes,
                cache: self.cache,
                history: self.history,
                tasks: Mutex::new(Vec::new()),
                registration: self.registration,
            }),
        };
        if let Some(path) = &client.inner.cache
            && let Ok(bytes) = std::fs::read(path)
        {
            let source = format!("cache:{}", path.display());
            if let Err(rejection) = client.offer_as(&bytes, &source.into()) {
                tracing::warn!(%rejection, "the cached snapshot is not usable");
            }
        }
        if let Ok(runtime) = runtime {
            let tasks = self
                .sources
                .into_iter()
                .map(|source| {
                    let feed = Feed::new(Arc::downgrade(&client.inner), source.name());
                    runtime.spawn(source.run(feed))
                })
                .collect();
            *lock(&client.inner.tasks) = tasks;
        }
        Ok(client)
    }
}

/// A service's view of its config, flags and breakers. Cheap to clone;
/// the sources stop when the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    registration: Registration,
    current: ArcSwap<Loaded>,
    loads: Mutex<Loads>,
    changes: watch::Sender<u64>,
    cache: Option<PathBuf>,
    history: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
    }
}

/// The load side, behind one lock: loads are rare, reads never take it.
struct Loads {
    /// Newest last; the newest is what reads see unless pinned.
    history: VecDeque<Arc<Loaded>>,
    /// A rollback holds an older entry in place.
    pinned: bool,
    failures: BTreeMap<&'static str, u64>,
    last_failure: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves consistent data: every
    // critical section here completes its writes before anything can fail.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What became of an offered payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// It is what reads see now.
    Loaded(u64),
    /// It verified and checked, but holds what reads already see.
    Unchanged(u64),
    /// It verified and checked, but is older than what the client holds;
    /// nothing changed.
    Stale {
        /// The revision held.
        held: u64,
        /// The revision offered.
        offered: u64,
    },
}

/// One snapshot the client loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    /// Its revision.
    pub revision: u64,
    /// The checksum it carried.
    pub checksum: String,
    /// When it was loaded.
    pub loaded_at: SystemTime,
    /// Which source delivered it (`etcd:…`, `file:…`, `http:…`, `cache:…`).
    pub source: String,
}

/// How the client is doing, for health endpoints and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// What reads see; `None` while on defaults.
    pub current: Option<HistoryEntry>,
    /// Whether a rollback holds an older snapshot in place.
    pub pinned: bool,
    /// Refused payloads, by [`Rejection::reason`].
    pub failures: BTreeMap<&'static str, u64>,
    /// The last refusal, in words.
    pub last_failure: Option<String>,
    /// Set when the service was deleted in Setpoint: reads go on serving
    /// its last config until `reclaim_at`, when it leaves the snapshot and
    /// the client keeps what it holds. A health check can warn on it.
    pub tombstone: Option<Tombstone>,
}

/// A flag's evaluation with OpenFeature's details.
#[derive(Debug, Clone, PartialEq)]
pub struct Details<T> {
    /// The served value, or the default on error.
    pub value: T,
    /// The served variant.
    pub variant: Option<String>,
    /// Why (OpenFeature's reason).
    pub reason: Reason,
    /// What went wrong, when `reason` is `ERROR`.
    pub error: Option<ErrorCode>,
    /// The revision of the snapshot that decided (0 before any).
    pub revision: u64,
}

impl Client {
    /// Starts declaring what `service` reads.
    pub fn builder(service: &str) -> Builder {
        Builder {
            registration: Registration::new(service),
            duplicate: None,
            sources: Vec::new(),
            cache: None,
            history: DEFAULT_HISTORY,
        }
    }

    /// A consistent view: every read through it sees the same snapshot.
    pub fn view(&self) -> View {
        View {
            loaded: self.inner.current.load(),
            client: self.inner.registration.id,
        }
    }

    /// The key's value in the current snapshot.
    pub fn get<T: Setting>(&self, key: &Key<T>) -> T {
        self.view().get(key)
    }

    /// A registered key's value by name: for code that only has the name.
    pub fn config<T: Setting>(&self, name: &str) -> Result<T, ReadError> {
        let slot = self.inner.registration.slot_of::<T>(name)?;
        let view = self.view();
        Ok(view.loaded.values[slot]
            .downcast_ref::<T>()
            .cloned()
            .unwrap_or_else(|| unreachable_default(&self.inner.registration, slot)))
    }

    /// The flag's value for `context`.
    pub fn evaluate<T: Setting>(&self, flag: &Flag<T>, context: &Context) -> T {
        self.view().evaluate(flag, context)
    }

    /// The flag's value for `context`, with the variant, reason and error.
    pub fn details<T: Setting>(&self, flag: &Flag<T>, context: &Context) -> Details<T> {
        self.view().details(flag, context)
    }

    /// Any flag of the service by name, OpenFeature's way: the caller's
    /// default when the flag is missing (`FLAG_NOT_FOUND`), of another type
    /// (`TYPE_MISMATCH`) or cannot be evaluated.
    pub fn flag<T: Setting>(&self, name: &str, default: T, context: &Context) -> Details<T> {
        self.view().flag(name, default, context)
    }

    /// Whether the breaker is open.
    pub fn is_open(&self, breaker: &Breaker) -> bool {
        self.view().is_open(breaker)
    }

    /// The revision reads see (0 while on defaults).
    pub fn revision(&self) -> u64 {
        self.inner.current.load().revision()
    }

    /// A receiver that sees the revision change after each swap.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// Offers a payload, as a source does: verified, checked, and swapped in
    /// when it is newer. A refused payload changes nothing, and is counted.
    pub fn offer(&self, bytes: &[u8], source: &str) -> Result<Offered, Rejection> {
        self.offer_as(bytes, &source.into())
    }

    pub(crate) fn offer_as(&self, bytes: &[u8], source: &Arc<str>) -> Result<Offered, Rejection> {
        self.inner.offer(bytes, source)
    }

    /// The snapshots loaded, oldest first (at most the builder's `history`).
    pub fn history(&self) -> Vec<HistoryEntry> {
        lock(&self.inner.loads)
            .history
            .iter()
            .filter_map(|l| entry(l))
            .collect()
    }

    /// Serves the snapshot `steps` before the newest, until [`resume`] or
    /// until a snapshot newer than the newest loaded arrives — an on-call
    /// engineer's lever on one service; it changes nothing centrally.
    ///
    /// [`resume`]: Client::resume
    pub fn rollback(&self, steps: usize) -> Result<HistoryEntry, RollbackError> {
        let mut loads = lock(&self.inner.loads);
        let available = loads.history.len().saturating_sub(1);
        if steps == 0 || steps > available {
            return Err(RollbackError {
                asked: steps,
                available,
            });
        }
        let chosen = loads.history[loads.history.len() - 1 - steps].clone();
        loads.pinned = true;
        self.inner.publish(chosen.clone());
        Ok(entry(&chosen).unwrap_or_else(|| unreachable!("history holds loaded snapshots")))
    }

    /// Ends a rollback: the newest snapshot loaded is served again.
    pub fn resume(&self) {
        let mut loads = lock(&self.inner.loads);
        if loads.pinned {
            loads.pinned = false;
            if let Some(newest) = loads.history.back().cloned() {
                self.inner.publish(newest);
            }
        }
    }

    /// What reads see, as a sealed snapshot of the one service: JSON that
    /// verifies on its own. `None` while on defaults.
    pub fn export(&self) -> Option<Vec<u8>> {
        self.inner
            .current
            .load()
            .export(&self.inner.registration.service)
    }

    /// Loaded snapshot, failures and whether a rollback is in force.
    pub fn status(&self) -> Status {
        let loads = lock(&self.inner.loads);
        let current = self.inner.current.load();
        Status {
            current: entry(&current),
            pinned: loads.pinned,
            failures: loads.failures.clone(),
            last_failure: loads.last_failure.clone(),
            tombstone: current.service.as_ref().and_then(|s| s.tombstone.clone()),
        }
    }

    /// The service this client reads.
    pub fn service(&self) -> &str {
        &self.inner.registration.service
    }
}

fn entry(loaded: &Loaded) -> Option<HistoryEntry> {
    loaded.origin.as_ref().map(|o| HistoryEntry {
        revision: o.revision,
        checksum: o.checksum.clone(),
        loaded_at: o.loaded_at,
        source: o.source.to_string(),
    })
}

/// A slot whose value is not of its registered type cannot exist (slots
/// are filled by the registered conversion); should it ever, the default
/// is read rather than a panic.
fn unreachable_default<T: Setting>(registration: &Registration, slot: usize) -> T {
    registration.keys[slot]
        .default
        .downcast_ref::<T>()
        .cloned()
        .unwrap_or_else(|| unreachable!("a key's default is of its registered type"))
}

impl Inner {
    pub(crate) fn offer(&self, bytes: &[u8], source: &Arc<str>) -> Result<Offered, Rejection> {
        let checked = if bytes.len() > MAX_PAYLOAD_BYTES {
            Err(Rejection::TooLarge(bytes.len()))
        } else {
            Loaded::check(&self.registration, bytes, source.clone(), SystemTime::now())
        };
        let mut loads = lock(&self.loads);
        let loaded = match checked {
            Ok(loaded) => Arc::new(loaded),
            Err(rejection) => {
                *loads.failures.entry(rejection.reason()).or_default() += 1;
                loads.last_failure = Some(format!("{source}: {rejection}"));
                metrics::counter!(
                    "setpoint_client_load_failures_total",
                    "service" => self.registration.service.clone(),
                    "reason" => rejection.reason(),
                )
                .increment(1);
                tracing::warn!(%source, %rejection, "snapshot refused; keeping the last good one");
                return Err(rejection);
            }
        };
        let offered = loaded.revision();
        let newest = loads.history.back().map_or(0, |l| l.revision());
        if offered < newest {
            tracing::debug!(%source, offered, held = newest, "older snapshot ignored");
            return Ok(Offered::Stale {
                held: newest,
                offered,
            });
        }
        if offered == newest
            && loads
                .history
                .back()
                .is_some_and(|l| l.service == loaded.service)
        {
            return Ok(Offered::Unchanged(offered));
        }
        if loads.history.len() == self.history {
            loads.history.pop_front();
        }
        loads.history.push_back(loaded.clone());
        // A rollback holds until something newer than what it rolled back
        // from arrives; this is.
        loads.pinned = false;
        self.publish(loaded.clone());
        metrics::counter!(
            "setpoint_client_loads_total",
            "service" => self.registration.service.clone(),
        )
        .increment(1);
        metrics::gauge!(
            "setpoint_client_revision",
            "service" => self.registration.service.clone(),
        )
        .set(offered as f64);
        tracing::info!(%source, revision = offered, "snapshot loaded");
        if let Some(path) = &self.cache
            && !source.starts_with("cache:")
            && let Some(json) = loaded.export(&self.registration.service)
            && let Err(error) = write_atomically(path, &json)
        {
            tracing::warn!(path = %path.display(), %error, "could not keep the snapshot in the cache");
        }
        Ok(Offered::Loaded(offered))
    }

    /// Points reads at `loaded` and tells subscribers.
    fn publish(&self, loaded: Arc<Loaded>) {
        let revision = loaded.revision();
        self.current.store(loaded);
        self.changes.send_replace(revision);
    }

    pub(crate) fn revision(&self) -> u64 {
        self.current.load().revision()
    }
}

impl Loaded {
    fn export(&self, service: &str) -> Option<Vec<u8>> {
        let origin = self.origin.as_ref()?;
        let part = self.service.as_ref()?.canonical_json();
        Some(seal_parts(&origin.environment, origin.revision, [(service, &part[..])]).json)
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, so the
/// file is always whole.
fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut temp = tempfile_in(dir)?;
    temp.1.write_all(bytes)?;
    temp.1.sync_all()?;
    std::fs::rename(&temp.0, path)
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        ".setpoint-{}-{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

/// One snapshot, held for a series of reads that must agree.
pub struct View {
    loaded: Guard<Arc<Loaded>>,
    client: u64,
}

impl View {
    /// The key's value.
    pub fn get<T: Setting>(&self, key: &Key<T>) -> T {
        if key.client != self.client {
            return key.default.clone();
        }
        self.loaded
            .values
            .get(key.index)
            .and_then(|slot| slot.downcast_ref::<T>())
            .map_or_else(|| key.default.clone(), T::clone)
    }

    /// The flag's value for `context`: its default on any error.
    pub fn evaluate<T: Setting>(&self, flag: &Flag<T>, context: &Context) -> T {
        self.prepared(flag)
            .and_then(|prepared| prepared.decide(context).value)
            .and_then(T::from_json)
            .unwrap_or_else(|| flag.default.clone())
    }

    /// The flag's value for `context`, with the variant, reason and error.
    pub fn details<T: Setting>(&self, flag: &Flag<T>, context: &Context) -> Details<T> {
        match self.prepared(flag) {
            Some(prepared) => self.decide(prepared, flag.default.clone(), context),
            None => self.failed(flag.default.clone(), ErrorCode::ProviderNotReady),
        }
    }

    /// Any flag of the service by name, with the caller's default.
    pub fn flag<T: Setting>(&self, name: &str, default: T, context: &Context) -> Details<T> {
        if self.loaded.origin.is_none() {
            return self.failed(default, ErrorCode::ProviderNotReady);
        }
        match self.loaded.flag(name) {
            Some(prepared) => self.decide(prepared, default, context),
            None => self.failed(default, ErrorCode::FlagNotFound),
        }
    }

    /// Whether the breaker is open (closed before any snapshot).
    pub fn is_open(&self, breaker: &Breaker) -> bool {
        breaker.client == self.client
            && self
                .loaded
                .breakers
                .get(breaker.index)
                .copied()
                .unwrap_or(false)
    }

    /// The revision of this view (0 on defaults).
    pub fn revision(&self) -> u64 {
        self.loaded.revision()
    }

    /// A config value by name as JSON, registered or not — for dumps and
    /// debugging; typed reads go through [`Key`]s.
    pub fn raw(&self, name: &str) -> Option<&Value> {
        self.loaded.service.as_ref()?.config.get(name)
    }

    fn prepared<T>(&self, flag: &Flag<T>) -> Option<&setpoint_core::eval::PreparedFlag> {
        if flag.client != self.client {
            return None;
        }
        let index = *self.loaded.registered.get(flag.index)?;
        self.loaded.flags.get(index).map(|(_, prepared)| prepared)
    }

    fn decide<T: Setting>(
        &self,
        prepared: &setpoint_core::eval::PreparedFlag,
        default: T,
        context: &Context,
    ) -> Details<T> {
        let decision = prepared.decide(context);
        if let Some(code) = decision.error {
            return self.failed(default, code);
        }
        match decision.value.and_then(T::from_json) {
            Some(value) => Details {
                value,
                variant: decision.variant.map(str::to_owned),
                reason: decision.reason,
                error: None,
                revision: self.revision(),
            },
            None => self.failed(default, ErrorCode::TypeMismatch),
        }
    }

    fn failed<T>(&self, default: T, code: ErrorCode) -> Details<T> {
        Details {
            value: default,
            variant: None,
            reason: Reason::Error,
            error: Some(code),
            revision: self.revision(),
        }
    }
}
