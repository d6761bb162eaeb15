//! The fleet: every agent's latest report, and where each cluster stands.
//!
//! Agents report after each write and on every heartbeat. The latest
//! report per environment, cluster and namespace is kept in memory and in
//! the store, so the view survives a restart. A report that says something
//! new (a revision, an error, a sink's health) is stored before it is
//! acknowledged, in a group commit with the others waiting; one that only
//! says "still here" is stored at most once a minute per cluster — a
//! thousand agents on ten-second heartbeats would otherwise be a hundred
//! fsyncs a second for nothing.
//!
//! Replicas sharing a store share the fleet through it: each reads the
//! reports the others stored every [`FOLLOW_EVERY`], and stores quiet
//! heartbeats often enough that, read elsewhere, a cluster does not look
//! stale (after one and a half heartbeats instead of a minute).
//!
//! The state of a cluster ([`ClusterState`]) is derived when asked, from
//! the report, the revision the cluster should run (from the engine's
//! snapshots) and the clock: silence makes a cluster `stale` without any
//! event.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, PoisonError, RwLock, Weak},
    time::Duration,
};

use setpoint_core::{
    fleet::{AgentReport, ClusterState, ClusterStatus},
    time::format_timestamp,
};
use tokio::sync::{OnceCell, broadcast};

use crate::{
    auth::{Principal, Visible},
    snapshots::Snapshots,
    store::{FleetStore, StoreError, StoredReport},
};

/// How long a heartbeat that changes nothing may go unstored.
const STORE_QUIET_EVERY_MILLIS: i64 = 60_000;

/// How often a replica reads the reports other replicas stored.
pub const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// How long a stored report must be missing from the store before a
/// replica takes it as forgotten: longer than any write of one may take.
const FORGOTTEN_AFTER_MILLIS: i64 = 10_000;

/// The most clusters kept by default: an agent token names its own
/// cluster, so without a bound one token could grow the fleet (and the
/// store) without end.
pub const MAX_CLUSTERS: usize = 10_000;

/// Why a report was not kept.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A new cluster, and the fleet is full.
    #[error("the fleet already holds {0} clusters; forget torn-down ones first")]
    Full(usize),
}

/// Which agent a report is from.
type Key = (String, String, String);

fn key(report: &AgentReport) -> Key {
    (
        report.environment.clone(),
        report.cluster.clone(),
        report.namespace.clone(),
    )
}

/// A kept report, with when it was last written to the store.
#[derive(Debug, Clone)]
struct Entry {
    stored: StoredReport,
    persisted_at: i64,
}

/// The fleet's latest reports.
#[derive(Debug)]
pub struct Fleet {
    store: Arc<dyn FleetStore>,
    loaded: OnceCell<()>,
    clusters: RwLock<BTreeMap<Key, Entry>>,
    updates: broadcast::Sender<Arc<StoredReport>>,
    capacity: usize,
    /// Reports waiting for the store (see [`Fleet::persist`]).
    pending: std::sync::Mutex<BTreeMap<Key, StoredReport>>,
    /// Held by whoever writes the pending reports.
    commit_turn: tokio::sync::Mutex<()>,
    /// Whether other replicas read the store too (see [`Fleet::shared`]).
    shared: bool,
}

impl Fleet {
    /// A fleet kept in `store`, read from it on first use.
    pub fn new(store: Arc<dyn FleetStore>) -> Self {
        Self {
            store,
            loaded: OnceCell::new(),
            clusters: RwLock::new(BTreeMap::new()),
            updates: broadcast::channel(1024).0,
            capacity: MAX_CLUSTERS,
            pending: std::sync::Mutex::new(BTreeMap::new()),
            commit_turn: tokio::sync::Mutex::new(()),
            shared: false,
        }
    }

    /// The same fleet, in a store other replicas share: quiet heartbeats
    /// are stored every one and a half heartbeats, so that a replica
    /// reading them sees a cluster go stale (three heartbeats of silence)
    /// only when it is. Start [`Fleet::follow`] beside it.
    #[must_use]
    pub fn shared(mut self) -> Self {
        self.shared = true;
        self
    }

    /// Reads the reports other replicas stored, every [`FOLLOW_EVERY`],
    /// while the fleet lives; `now` is the engine's clock.
    pub async fn follow(fleet: Weak<Self>, now: impl Fn() -> Option<i64>) {
        let mut tick = tokio::time::interval(FOLLOW_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let (Some(fleet), Some(now)) = (fleet.upgrade(), now()) else {
                return;
            };
            if let Err(error) = fleet.read_others(now).await {
                tracing::warn!(%error, "could not read the fleet's reports; will retry");
            }
        }
    }

    /// Takes in what the store holds that is newer than what this replica
    /// has, and drops what another replica forgot: a cluster missing from
    /// the store although this replica stored or read it well before the
    /// read (`now`). A report stored while the read runs may be missing
    /// from it, and must not be dropped.
    async fn read_others(&self, now: i64) -> Result<(), StoreError> {
        self.ready().await?;
        let reports = self.store.reports().await?;
        let found: BTreeSet<Key> = reports.iter().map(|s| key(&s.report)).collect();
        let mut updated = Vec::new();
        {
            let mut clusters = self
                .clusters
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            clusters.retain(|key, entry| {
                found.contains(key)
                    || entry.persisted_at >= now.saturating_sub(FORGOTTEN_AFTER_MILLIS)
            });
            for stored in reports {
                let key = key(&stored.report);
                let newer = clusters
                    .get(&key)
                    .is_none_or(|entry| entry.stored.reported_at < stored.reported_at);
                if newer {
                    updated.push(Arc::new(stored.clone()));
                    clusters.insert(
                        key,
                        Entry {
                            persisted_at: stored.reported_at,
                            stored,
                        },
                    );
                }
            }
        }
        for stored in updated {
            let _ = self.updates.send(stored);
        }
        Ok(())
    }

    /// The same fleet, keeping at most `capacity` clusters.
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.loaded
            .get_or_try_init(|| async {
                let reports = self.store.reports().await?;
                let mut clusters = self
                    .clusters
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                for stored in reports {
                    clusters.insert(
                        key(&stored.report),
                        Entry {
                            persisted_at: stored.reported_at,
                            stored,
                        },
                    );
                }
                Ok(())
            })
            .await
            .copied()
    }

    /// Keeps `report`, received at `now`, and tells the followers.
    pub async fn report(&self, report: AgentReport, now: i64) -> Result<(), ReportError> {
        self.ready().await?;
        let key = key(&report);
        let stored = StoredReport {
            report,
            reported_at: now,
        };
        let persist = {
            let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
            if !clusters.contains_key(&key) && clusters.len() >= self.capacity {
                return Err(ReportError::Full(self.capacity));
            }
            let quiet_every = if self.shared {
                let heartbeat = i64::try_from(stored.report.heartbeat_secs).unwrap_or(i64::MAX);
                heartbeat
                    .saturating_mul(1_500)
                    .min(STORE_QUIET_EVERY_MILLIS)
            } else {
                STORE_QUIET_EVERY_MILLIS
            };
            clusters.get(&key).is_none_or(|entry| {
                entry.stored.report != stored.report || now - entry.persisted_at >= quiet_every
            })
        };
        if persist {
            self.persist(key.clone(), stored.clone()).await?;
        }
        {
            let mut clusters = self
                .clusters
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            let persisted_at = if persist {
                now
            } else {
                clusters.get(&key).map_or(now, |e| e.persisted_at)
            };
            clusters.insert(
                key,
                Entry {
                    stored: stored.clone(),
                    persisted_at,
                },
            );
        }
        // Nobody following is fine.
        let _ = self.updates.send(Arc::new(stored));
        Ok(())
    }

    /// Stores a report before it is acknowledged, in a group commit: the
    /// report waits for the store, and whoever holds the commit turn writes
    /// every report waiting at that moment in one transaction — a thousand
    /// agents reporting one write cost a few fsyncs, not a thousand.
    async fn persist(&self, key: Key, stored: StoredReport) -> Result<(), StoreError> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, stored);
        let _turn = self.commit_turn.lock().await;
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        // Empty: the previous turn wrote this report with its batch.
        if batch.is_empty() {
            return Ok(());
        }
        let reports: Vec<StoredReport> = batch.values().cloned().collect();
        if let Err(error) = self.store.put_reports(&reports).await {
            // Back in line (unless a newer report came), for the next turn.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (key, stored) in batch {
                pending.entry(key).or_insert(stored);
            }
            return Err(error);
        }
        Ok(())
    }

    /// Forgets a cluster (it was torn down); whether it was known.
    pub async fn forget(
        &self,
        environment: &str,
        cluster: &str,
        namespace: &str,
    ) -> Result<bool, StoreError> {
        self.ready().await?;
        let known = self
            .store
            .forget_report(environment, cluster, namespace)
            .await?;
        let key = (
            environment.to_owned(),
            cluster.to_owned(),
            namespace.to_owned(),
        );
        let removed = self
            .clusters
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .is_some();
        Ok(known || removed)
    }

    /// Every cluster's status at `now`, against the snapshots' revisions,
    /// in environment, cluster and namespace order.
    pub async fn statuses(
        &self,
        snapshots: &Snapshots,
        now: i64,
    ) -> Result<Vec<ClusterStatus>, StoreError> {
        self.ready().await?;
        let clusters = self.clusters.read().unwrap_or_else(PoisonError::into_inner);
        Ok(clusters
            .values()
            .map(|entry| status(&entry.stored, snapshots, now))
            .collect())
    }

    /// Reports as they arrive.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredReport>> {
        self.updates.subscribe()
    }
}

/// The status of one stored report at `now`.
pub fn status(stored: &StoredReport, snapshots: &Snapshots, now: i64) -> ClusterStatus {
    let report = &stored.report;
    let desired = snapshots
        .current(&report.environment)
        .map_or(0, |snapshot| match &report.services {
            None => snapshot.revision,
            // A limited agent should run the revision its services last
            // changed at: changes to others do not make it behind.
            Some(services) => services
                .iter()
                .filter_map(|name| snapshot.services.get(name))
                .map(|part| part.revision)
                .max()
                .unwrap_or(0),
        });
    ClusterStatus::new(
        report.clone(),
        format_timestamp(stored.reported_at),
        desired,
        now.saturating_sub(stored.reported_at),
    )
}

/// Counts per environment and state, every state listed for every
/// environment that has a cluster, for `/metrics`; with the largest lag.
pub fn tally(statuses: &[ClusterStatus]) -> Vec<(String, ClusterState, usize, u64)> {
    let mut by_environment: BTreeMap<&str, BTreeMap<ClusterState, (usize, u64)>> = BTreeMap::new();
    for status in statuses {
        let states = by_environment
            .entry(&status.report.environment)
            .or_insert_with(|| ClusterState::ALL.iter().map(|s| (*s, (0, 0))).collect());
        let (count, lag) = states.entry(status.state).or_default();
        *count += 1;
        *lag = (*lag).max(status.lag);
    }
    by_environment
        .into_iter()
        .flat_map(|(environment, states)| {
            states
                .into_iter()
                .map(move |(state, (count, lag))| (environment.to_owned(), state, count, lag))
        })
        .collect()
}

impl Visible for ClusterStatus {
    /// A cluster is seen by who sees its environment; a principal limited
    /// to services sees the agents that deliver one of them, with the
    /// service list cut to theirs.
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        if !viewer.sees_environment(&self.report.environment) {
            return None;
        }
        let (Some(_), Some(services)) = (&viewer.services, &self.report.services) else {
            return Some(Cow::Borrowed(self));
        };
        let seen: Vec<String> = services
            .iter()
            .filter(|s| viewer.sees_service(s))
            .cloned()
            .collect();
        if seen.is_empty() {
            return None;
        }
        if seen.len() == services.len() {
            return Some(Cow::Borrowed(self));
        }
        let mut cut = self.clone();
        cut.report.services = Some(seen);
        Some(Cow::Owned(cut))
    }
}
