//! The current state of everything, and the commands that change it.
//!
//! [`World::apply`] is the one place where writes are checked (base
//! revision, existence, validation through `setpoint-core`) and turned into
//! change-log entries. It is pure over its inputs — the writer passes the
//! time in — so it is tested without a database.

mod breakers;
mod files;
mod policies;
mod requests;
mod rollouts;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use setpoint_core::{
    Breaker, BreakerState, Change, ChangeKind, FieldPath, Flag, Gate, Held, KeySpec, Limits,
    ManagedBy, Policy, Role, ServiceDoc, Tombstone, Values, Violation, ViolationKind,
    breaker::{Alert, BreakerStatus},
    rollout::{Rollout, RolloutPlan, Steer},
    validate::is_valid_name,
    validate_document,
};

use breakers::BREAKERS;

use crate::store::{Delta, Position};
pub use breakers::{AlertScope, BreakerOp, UnroutedAlert, board, unrouted_newest_first};
pub use files::FileStep;
pub use requests::{ChangeRequest, RequestState, Review, Verdict};
pub use rollouts::RolloutAt;

/// Everything Setpoint knows, at one revision. Cloning is cheap: records
/// are shared until changed.
#[derive(Debug, Clone, Default)]
pub struct World {
    /// The latest revision in the change log.
    pub revision: u64,
    /// How many batches the store has committed: a batch that only moves
    /// breaker states logs nothing but still commits. Replicas sharing a
    /// store order their commits by it (see [`crate::store::Batch`]).
    pub commits: u64,
    /// Environments by name.
    pub environments: BTreeMap<String, Arc<EnvironmentRecord>>,
    /// Services by name, tombstoned ones included.
    pub services: BTreeMap<String, Arc<ServiceRecord>>,
    /// Alerts that matched no breaker, by fingerprint (the latest few).
    pub unrouted: Arc<BTreeMap<String, UnroutedAlert>>,
    /// Change requests and scheduled changes, open and closed, by id.
    pub change_requests: BTreeMap<u64, Arc<ChangeRequest>>,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentRecord {
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// The revision that created it.
    pub revision: u64,
    /// What writes to it must meet.
    #[serde(default, skip_serializing_if = "Policy::is_open")]
    pub policy: Policy,
}

/// A service's current state.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ServiceRecord {
    /// The document.
    pub doc: ServiceDoc,
    /// The revision of the last change to this service: what writes must
    /// name as their base.
    pub revision: u64,
    /// Set while the service is deleted but not yet reclaimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tombstone: Option<Tombstone>,
    /// Breaker states: environment → breaker → status. Breakers move
    /// without changing `revision`, so an alert never makes an editor's
    /// pending edit stale.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, BTreeMap<String, Object>>)]
    pub breakers: BreakerStates,
    /// The files it is managed by, once a folder was applied to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagedBy>,
    /// Progressive rollouts: environment → flag → the plan under way or
    /// last run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = BTreeMap<String, BTreeMap<String, Object>>)]
    pub rollouts: Rollouts,
}

/// Rollouts of one service: environment → flag → rollout.
pub type Rollouts = BTreeMap<String, BTreeMap<String, Rollout>>;

/// Breaker states of one service: environment → breaker → status.
pub type BreakerStates = BTreeMap<String, BTreeMap<String, BreakerStatus>>;

impl ServiceRecord {
    /// The service as a plan sees it.
    pub fn held(&self) -> Held<'_> {
        Held {
            doc: &self.doc,
            revision: self.revision,
            tombstone: self.tombstone.as_ref(),
            managed_by: self.managed_by.as_ref(),
        }
    }

    /// Whether it was changed by other means since its files were last
    /// applied.
    pub fn drifts(&self) -> bool {
        self.held().drifts()
    }

    /// The state of each breaker in `environment` (absent ones are closed).
    pub fn states_in(&self, environment: &str) -> BTreeMap<String, BreakerState> {
        self.breakers
            .get(environment)
            .map(|states| {
                states
                    .iter()
                    .map(|(name, status)| (name.clone(), status.state))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Drops the states of breakers the document no longer defines in an
    /// environment (and of environments that are gone).
    pub fn prune_breakers(&mut self, environments: &BTreeMap<String, Arc<EnvironmentRecord>>) {
        let doc = &self.doc;
        self.breakers.retain(|env, states| {
            states.retain(|name, _| {
                doc.breakers.get(name).is_some_and(|b| {
                    b.environments.is_empty() || b.environments.iter().any(|e| e == env)
                })
            });
            environments.contains_key(env) && !states.is_empty()
        });
    }
}

/// A write, as the API receives it. The edits a person can make to a
/// service serialize: a change request keeps the exact command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// Create an environment.
    #[serde(skip)]
    CreateEnvironment {
        /// Name.
        name: String,
        /// What it is for.
        description: String,
    },
    /// Create a service from a whole document.
    CreateService {
        /// The document.
        doc: ServiceDoc,
    },
    /// Replace a service's whole document.
    ReplaceService {
        /// The new document (its name must match).
        doc: ServiceDoc,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Set and remove values of one environment, atomically.
    PatchValues {
        /// Service.
        service: String,
        /// Environment.
        environment: String,
        /// Keys to set.
        set: Values,
        /// Keys to reset to their default.
        remove: Vec<String>,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Replace a service's schema; refused if stored values would break.
    PutSchema {
        /// Service.
        service: String,
        /// The new schema.
        schema: BTreeMap<String, KeySpec>,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Create or replace a flag.
    PutFlag {
        /// Service.
        service: String,
        /// Flag key.
        key: String,
        /// The flag.
        flag: Flag,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Remove a flag.
    DeleteFlag {
        /// Service.
        service: String,
        /// Flag key.
        key: String,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Tombstone a service.
    DeleteService {
        /// Service.
        service: String,
        /// The service revision the deletion was based on.
        base: u64,
    },
    /// Bring a tombstoned service back.
    RestoreService {
        /// Service.
        service: String,
    },
    /// Restore a service's document to an earlier state (computed by the
    /// caller from the log).
    Rollback {
        /// The restored document.
        doc: ServiceDoc,
        /// The service revision the rollback was based on.
        base: u64,
    },
    /// Remove a tombstoned service for good, once its reclaim time passed.
    #[serde(skip)]
    ReclaimService {
        /// Service.
        service: String,
    },
    /// Create or replace a breaker definition.
    PutBreaker {
        /// Service.
        service: String,
        /// Breaker name.
        name: String,
        /// The definition.
        breaker: Breaker,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// Remove a breaker definition (and its states).
    DeleteBreaker {
        /// Service.
        service: String,
        /// Breaker name.
        name: String,
        /// The service revision the edit was based on.
        base: u64,
    },
    /// A person trips or closes a breaker in one environment.
    #[serde(skip)]
    OperateBreaker {
        /// Service.
        service: String,
        /// Breaker name.
        name: String,
        /// Environment.
        environment: String,
        /// Trip, or close (with or without force).
        op: BreakerOp,
    },
    /// Alerts delivered by Alertmanager: each opens or releases the
    /// breakers it matches, or is kept as unrouted.
    #[serde(skip)]
    Alerts {
        /// The alerts, in delivery order.
        alerts: Vec<Alert>,
        /// The Alertmanager receiver that sent them.
        receiver: String,
        /// The services and environment the sender's token is limited to.
        scope: AlertScope,
    },
    /// Close `auto_after` breakers whose delay has run out.
    #[serde(skip)]
    TickBreakers,
    /// Start a progressive rollout of a flag in one environment.
    StartRollout {
        /// Service.
        service: String,
        /// Flag key.
        flag: String,
        /// Environment.
        environment: String,
        /// The plan.
        plan: RolloutPlan,
        /// The service revision the plan was made against.
        base: u64,
    },
    /// A person pauses, resumes, retries or aborts a rollout.
    #[serde(skip)]
    SteerRollout {
        /// Where the rollout is.
        at: RolloutAt,
        /// What to do.
        steer: Steer,
    },
    /// Move running rollouts whose step held its time.
    #[serde(skip)]
    TickRollouts,
    /// One step of applying a folder of service documents: the service
    /// created, changed, restored, tombstoned or only adopted, and the
    /// files it is managed by recorded.
    #[serde(skip)]
    FromFiles {
        /// Service.
        service: String,
        /// What to do to it.
        step: FileStep,
        /// Its files (the world fills in `revision`).
        managed: ManagedBy,
        /// The service revision the plan saw (ignored for a creation).
        base: u64,
    },
    /// Set an environment's policy.
    #[serde(skip)]
    SetPolicy {
        /// Environment.
        environment: String,
        /// The policy (checked and normalized here).
        policy: Policy,
    },
    /// Hold an edit of one service for review, or for a time: a change
    /// request. Refused as the edit would be, if it could not apply now.
    #[serde(skip)]
    OpenRequest {
        /// The edit, exactly as it would have been written.
        edit: Vec<Command>,
        /// When to apply it once approved (RFC 3339); `None`: at the last
        /// approval.
        apply_at: Option<String>,
    },
    /// Approve, reject or comment on a change request. On the last
    /// approval it applies, if its time has come.
    #[serde(skip)]
    ReviewRequest {
        /// The request.
        id: u64,
        /// What the reviewer says.
        verdict: Verdict,
        /// Their words.
        text: String,
    },
    /// The author takes back their request (or cancels a scheduled change).
    #[serde(skip)]
    WithdrawRequest {
        /// The request.
        id: u64,
    },
    /// Make a request's edit again on the service's current revision: its
    /// approvals start over.
    #[serde(skip)]
    RebaseRequest {
        /// The request.
        id: u64,
    },
    /// Apply an approved request whose time has come (the server's timer),
    /// or record why it cannot.
    #[serde(skip)]
    ApplyDue {
        /// The request.
        id: u64,
    },
    /// Log a change to users or tokens, which live outside the world: the
    /// engine writes the account in the same transaction.
    #[serde(skip)]
    RecordAccount {
        /// `user_saved`, `user_deleted`, `token_created` or `token_revoked`.
        kind: ChangeKind,
        /// The user or token name.
        item: String,
        /// Before (for revocations).
        before: Option<Value>,
        /// After.
        after: Option<Value>,
    },
}

/// Who writes, why and when.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The actor recorded in the change log.
    pub actor: String,
    /// Their reason.
    pub reason: String,
    /// Now, as RFC 3339.
    pub at: String,
    /// When tombstones created now are reclaimed, as RFC 3339.
    pub reclaim_at: String,
    /// Now, in milliseconds since the Unix epoch (the same instant as `at`).
    pub now: i64,
    /// The writer's role, when a person or a token writes: their writes
    /// are held to the policies of the environments they change. `None`
    /// for the server's own (timers, alerts, the offline CLI).
    pub role: Option<Role>,
    /// Whether the write carries the approvals policies ask for (an
    /// approved change request being applied).
    pub approved: bool,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The target does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The target exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The write was based on an older revision.
    #[error("the service changed since revision {base}: it is now at revision {current}")]
    Conflict {
        /// The revision the write named.
        base: u64,
        /// The current revision.
        current: u64,
        /// The current state, so the client can rebase (cut to what the
        /// client may see before it is sent).
        state: Arc<ServiceRecord>,
    },
    /// The result would break the domain's rules.
    #[error("{} problem(s) found", .0.len())]
    Invalid(Vec<Violation>),
    /// A breaker cannot make the transition asked for from its state.
    #[error("{0}")]
    BreakerState(String),
    /// An environment's policy stands in the way.
    #[error(transparent)]
    Gate(#[from] Gate),
    /// The writer may not do this (approve their own change, withdraw
    /// someone else's).
    #[error("{0}")]
    NotAllowed(String),
    /// The change request is past the step asked for.
    #[error("{0}")]
    RequestClosed(String),
    /// A rollout cannot take the step asked for from where it stands.
    #[error("{0}")]
    RolloutState(String),
}

impl World {
    /// How far this world has followed the store.
    pub fn position(&self) -> Position {
        Position {
            commits: self.commits,
            revision: self.revision,
        }
    }

    /// Takes in what other replicas committed (a [`Delta`] read from the
    /// store) and returns the services it touched, to rebuild their
    /// snapshots.
    pub fn absorb(&mut self, delta: &Delta) -> BTreeSet<String> {
        let mut touched = BTreeSet::new();
        for name in &delta.removed_services {
            if self.services.remove(name).is_some() {
                touched.insert(name.clone());
            }
        }
        for record in &delta.services {
            touched.insert(record.doc.service.clone());
            self.services
                .insert(record.doc.service.clone(), Arc::clone(record));
        }
        for env in &delta.environments {
            self.environments.insert(env.name.clone(), Arc::clone(env));
        }
        for request in &delta.change_requests {
            self.change_requests.insert(request.id, Arc::clone(request));
        }
        if let Some(unrouted) = &delta.unrouted {
            self.unrouted = Arc::clone(unrouted);
        }
        self.revision = delta.revision;
        self.commits = delta.commits;
        touched
    }

    /// The names of the environments, for validation.
    pub fn environment_names(&self) -> Vec<String> {
        self.environments.keys().cloned().collect()
    }

    fn limits(&self) -> Limits {
        Limits {
            environments: Some(self.environment_names()),
            ..Limits::default()
        }
    }

    /// A live (not tombstoned) service, checked against the write's base.
    fn live(&self, name: &str, base: u64) -> Result<&Arc<ServiceRecord>, Refusal> {
        let record = self
            .services
            .get(name)
            .filter(|r| r.tombstone.is_none())
            .ok_or_else(|| Refusal::NotFound(format!("service {name:?} does not exist")))?;
        if record.revision != base {
            return Err(Refusal::Conflict {
                base,
                current: record.revision,
                state: Arc::clone(record),
            });
        }
        Ok(record)
    }

    /// Applies `command`: on success the world moves one revision per
    /// change and the changes to log are returned (none when the command
    /// changed nothing worth logging, like a duplicate alert); on refusal
    /// nothing changes.
    pub fn apply(&mut self, command: Command, meta: &Meta) -> Result<Vec<Change>, Refusal> {
        let Some(guarded) = self.guarded(&command, meta) else {
            return self.apply_unguarded(command, meta);
        };
        let changes = self.apply_unguarded(command, meta)?;
        self.admit(guarded, meta)?;
        Ok(changes)
    }

    fn apply_unguarded(&mut self, command: Command, meta: &Meta) -> Result<Vec<Change>, Refusal> {
        let revision = self.revision + 1;
        let entries = match command {
            Command::PutBreaker {
                service,
                name,
                breaker,
                base,
            } => vec![self.set_item(&BREAKERS, service, name, Some(breaker), base, revision)?],
            Command::DeleteBreaker {
                service,
                name,
                base,
            } => vec![self.set_item(&BREAKERS, service, name, None, base, revision)?],
            Command::OperateBreaker {
                service,
                name,
                environment,
                op,
            } => self.operate_breaker(&service, &name, &environment, op, meta)?,
            Command::Alerts {
                alerts,
                receiver,
                scope,
            } => self.receive_alerts(&alerts, &receiver, &scope, meta),
            Command::TickBreakers => self.tick_breakers(meta),
            command @ (Command::StartRollout { .. }
            | Command::SteerRollout { .. }
            | Command::TickRollouts) => self.apply_rollout(command, meta, revision)?,
            Command::RecordAccount {
                kind,
                item,
                before,
                after,
            } => vec![Entry {
                item: Some(item),
                ..Entry::new(kind, None, before, after)
            }],
            Command::CreateEnvironment { name, description } => {
                vec![self.create_environment(name, description, revision)?]
            }
            Command::CreateService { doc } => vec![self.create_service(doc, revision)?],
            Command::ReplaceService { doc, base } => {
                vec![self.replace_service(doc, base, revision)?]
            }
            Command::PatchValues {
                service,
                environment,
                set,
                remove,
                base,
            } => vec![self.patch_values(service, environment, set, &remove, base, revision)?],
            Command::PutSchema {
                service,
                schema,
                base,
            } => vec![self.put_schema(service, schema, base, revision)?],
            Command::PutFlag {
                service,
                key,
                flag,
                base,
            } => vec![self.set_item(&FLAGS, service, key, Some(flag), base, revision)?],
            Command::DeleteFlag { service, key, base } => {
                vec![self.set_item(&FLAGS, service, key, None, base, revision)?]
            }
            Command::DeleteService { service, base } => {
                vec![self.delete_service(service, base, meta, revision)?]
            }
            Command::RestoreService { service } => vec![self.restore_service(service, revision)?],
            Command::Rollback { doc, base } => vec![self.rollback(doc, base, revision)?],
            Command::ReclaimService { service } => vec![self.reclaim_service(service, meta)?],
            Command::FromFiles {
                service,
                step,
                managed,
                base,
            } => self.apply_file_step(service, step, managed, base, meta, revision)?,
            Command::SetPolicy {
                environment,
                policy,
            } => vec![self.set_policy(environment, policy, meta)?],
            Command::OpenRequest { edit, apply_at } => {
                vec![self.open_request(edit, apply_at, meta, revision)?]
            }
            // These may apply an edit, whose changes are stamped as they
            // are made.
            Command::ReviewRequest { id, verdict, text } => {
                return self.review_request(id, verdict, text, meta);
            }
            Command::WithdrawRequest { id } => vec![self.withdraw_request(id, meta)?],
            Command::RebaseRequest { id } => vec![self.rebase_request(id, meta)?],
            Command::ApplyDue { id } => return self.apply_due(id, meta),
        };
        Ok(entries
            .into_iter()
            .map(|entry| self.stamp(entry, meta))
            .collect())
    }

    /// Logs `entry` at the next revision.
    fn stamp(&mut self, entry: Entry, meta: &Meta) -> Change {
        self.revision += 1;
        Change {
            revision: self.revision,
            service: entry.service,
            item: entry.item,
            environment: entry.environment,
            actor: entry.actor.unwrap_or_else(|| meta.actor.clone()),
            at: meta.at.clone(),
            reason: entry.reason.unwrap_or_else(|| meta.reason.clone()),
            kind: entry.kind,
            before: entry.before,
            after: entry.after,
        }
    }

    fn create_environment(
        &mut self,
        name: String,
        description: String,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        if !is_valid_name(&name) {
            return Err(Refusal::Invalid(vec![Violation::new(
                FieldPath::root().key("name"),
                ViolationKind::InvalidName {
                    what: "environment",
                    name,
                },
            )]));
        }
        if self.environments.contains_key(&name) {
            return Err(Refusal::AlreadyExists(format!(
                "environment {name:?} exists"
            )));
        }
        let record = EnvironmentRecord {
            name: name.clone(),
            description,
            revision,
            policy: Policy::default(),
        };
        let after = to_value(&record);
        self.environments.insert(name.clone(), Arc::new(record));
        Ok(Entry {
            environment: Some(name),
            ..Entry::new(ChangeKind::EnvironmentCreated, None, None, Some(after))
        })
    }

    fn create_service(&mut self, doc: ServiceDoc, revision: u64) -> Result<Entry, Refusal> {
        let name = doc.service.clone();
        if let Some(existing) = self.services.get(&name) {
            let state = if existing.tombstone.is_some() {
                "is deleted (restore it instead)"
            } else {
                "exists"
            };
            return Err(Refusal::AlreadyExists(format!("service {name:?} {state}")));
        }
        self.check(&doc)?;
        let after = to_value(&doc);
        self.put(doc, revision, None);
        Ok(Entry::new(
            ChangeKind::ServiceCreated,
            Some(name),
            None,
            Some(after),
        ))
    }

    fn replace_service(
        &mut self,
        doc: ServiceDoc,
        base: u64,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let name = doc.service.clone();
        let before = to_value(&self.live(&name, base)?.doc);
        self.check(&doc)?;
        let after = to_value(&doc);
        self.put(doc, revision, None);
        Ok(Entry::new(
            ChangeKind::ServiceReplaced,
            Some(name),
            Some(before),
            Some(after),
        ))
    }

    fn patch_values(
        &mut self,
        service: String,
        environment: String,
        set: Values,
        remove: &[String],
        base: u64,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let record = self.live(&service, base)?;
        if !self.environments.contains_key(&environment) {
            return Err(Refusal::NotFound(format!(
                "environment {environment:?} does not exist"
            )));
        }
        let mut doc = record.doc.clone();
        let values = doc.values.entry(environment.clone()).or_default();
        let before = to_value(&*values);
        for key in remove {
            values.remove(key);
        }
        values.extend(set);
        let after = to_value(&*values);
        if values.is_empty() {
            doc.values.remove(&environment);
        }
        self.check(&doc)?;
        self.put(doc, revision, None);
        Ok(Entry {
            environment: Some(environment),
            ..Entry::new(
                ChangeKind::ValuesChanged,
                Some(service),
                Some(before),
                Some(after),
            )
        })
    }

    fn put_schema(
        &mut self,
        service: String,
        schema: BTreeMap<String, KeySpec>,
        base: u64,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let mut doc = self.live(&service, base)?.doc.clone();
        let before = to_value(&doc.schema);
        doc.schema = schema;
        self.check(&doc)?;
        let after = to_value(&doc.schema);
        self.put(doc, revision, None);
        Ok(Entry::new(
            ChangeKind::SchemaChanged,
            Some(service),
            Some(before),
            Some(after),
        ))
    }

    /// Creates or replaces (`Some`) or removes (`None`) one named item of
    /// a service's document — a flag or a breaker — as one logged change.
    fn set_item<T: Serialize>(
        &mut self,
        items: &Items<T>,
        service: String,
        key: String,
        item: Option<T>,
        base: u64,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let mut doc = self.live(&service, base)?.doc.clone();
        let after = item.as_ref().map(to_value);
        let before = match item {
            Some(item) => (items.of)(&mut doc).insert(key.clone(), item),
            None => Some((items.of)(&mut doc).remove(&key).ok_or_else(|| {
                Refusal::NotFound(format!(
                    "{} {key:?} does not exist in {service:?}",
                    items.what
                ))
            })?),
        };
        // Removing an item cannot make a valid document invalid.
        if after.is_some() {
            self.check(&doc)?;
        }
        self.put(doc, revision, None);
        Ok(Entry {
            item: Some(key),
            ..Entry::new(
                items.kind,
                Some(service),
                before.map(|b| to_value(&b)),
                after,
            )
        })
    }

    fn delete_service(
        &mut self,
        service: String,
        base: u64,
        meta: &Meta,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let doc = self.live(&service, base)?.doc.clone();
        let tombstone = Tombstone {
            tombstoned_at: meta.at.clone(),
            reclaim_at: meta.reclaim_at.clone(),
        };
        let after = to_value(&tombstone);
        self.put(doc, revision, Some(tombstone));
        Ok(Entry::new(
            ChangeKind::ServiceTombstoned,
            Some(service),
            None,
            Some(after),
        ))
    }

    fn restore_service(&mut self, service: String, revision: u64) -> Result<Entry, Refusal> {
        let record = self
            .services
            .get(&service)
            .filter(|r| r.tombstone.is_some())
            .ok_or_else(|| {
                Refusal::NotFound(format!("no deleted service {service:?} to restore"))
            })?;
        let doc = record.doc.clone();
        let before = to_value(&record.tombstone);
        // Environments may have gone meanwhile; a restore must not bring
        // back a document that no longer validates.
        self.check(&doc)?;
        self.put(doc, revision, None);
        Ok(Entry::new(
            ChangeKind::ServiceRestored,
            Some(service),
            Some(before),
            None,
        ))
    }

    fn rollback(&mut self, doc: ServiceDoc, base: u64, revision: u64) -> Result<Entry, Refusal> {
        let name = doc.service.clone();
        let before = to_value(&self.live(&name, base)?.doc);
        // The old state must still hold today: environments may have gone.
        self.check(&doc)?;
        let after = to_value(&doc);
        self.put(doc, revision, None);
        Ok(Entry::new(
            ChangeKind::Rollback,
            Some(name),
            Some(before),
            Some(after),
        ))
    }

    fn reclaim_service(&mut self, service: String, meta: &Meta) -> Result<Entry, Refusal> {
        let due = self
            .services
            .get(&service)
            .and_then(|r| r.tombstone.as_ref())
            .is_some_and(|t| t.reclaim_at <= meta.at);
        if !due {
            return Err(Refusal::NotFound(format!(
                "no deleted service {service:?} is due for reclaiming"
            )));
        }
        let before = self.services.remove(&service).map(|r| to_value(&r.doc));
        Ok(Entry::new(
            ChangeKind::ServiceReclaimed,
            Some(service),
            before,
            None,
        ))
    }

    fn check(&self, doc: &ServiceDoc) -> Result<(), Refusal> {
        let violations = validate_document(doc, &self.limits());
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Refusal::Invalid(violations))
        }
    }

    fn put(&mut self, doc: ServiceDoc, revision: u64, tombstone: Option<Tombstone>) {
        let (breakers, managed_by, rollouts) = self
            .services
            .get(&doc.service)
            .map(|r| (r.breakers.clone(), r.managed_by.clone(), r.rollouts.clone()))
            .unwrap_or_default();
        let mut record = ServiceRecord {
            doc,
            revision,
            tombstone,
            breakers,
            managed_by,
            rollouts,
        };
        record.prune_breakers(&self.environments);
        self.services
            .insert(record.doc.service.clone(), Arc::new(record));
    }
}

/// A kind of named item in a service document, for [`World::set_item`].
struct Items<T> {
    /// For messages: `flag`, `breaker`.
    what: &'static str,
    /// What its changes are logged as.
    kind: ChangeKind,
    /// Where a document keeps them.
    of: fn(&mut ServiceDoc) -> &mut BTreeMap<String, T>,
}

const FLAGS: Items<Flag> = Items {
    what: "flag",
    kind: ChangeKind::FlagChanged,
    of: |doc| &mut doc.flags,
};

/// What a command logs, before the writer stamps it with who, when, why.
struct Entry {
    /// Who, when not the command's actor (an alert's fingerprint).
    actor: Option<String>,
    /// Why, when not the command's reason.
    reason: Option<String>,
    kind: ChangeKind,
    service: Option<String>,
    environment: Option<String>,
    item: Option<String>,
    before: Option<Value>,
    after: Option<Value>,
}

impl Entry {
    fn new(
        kind: ChangeKind,
        service: Option<String>,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Self {
        Self {
            actor: None,
            reason: None,
            kind,
            service,
            environment: None,
            item: None,
            before,
            after,
        }
    }
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    impl World {
        /// `apply` for commands that log exactly one change.
        fn apply_single(&mut self, command: Command, meta: &Meta) -> Result<Change, Refusal> {
            let mut changes = self.apply(command, meta)?;
            assert_eq!(changes.len(), 1, "one change");
            Ok(changes.remove(0))
        }
    }

    fn meta() -> Meta {
        Meta {
            actor: "alice".into(),
            reason: "test".into(),
            at: "2026-11-22T10:00:00.000Z".into(),
            reclaim_at: "2026-11-29T10:00:00.000Z".into(),
            now: setpoint_core::time::parse_timestamp("2026-11-22T10:00:00.000Z")
                .expect("timestamp"),
            role: None,
            approved: false,
        }
    }

    fn world() -> World {
        let mut world = World::default();
        for env in ["dev", "staging", "prod"] {
            world
                .apply_single(
                    Command::CreateEnvironment {
                        name: env.into(),
                        description: String::new(),
                    },
                    &meta(),
                )
                .expect("environment");
        }
        let doc = serde_json::from_str(include_str!("../../../../examples/checkout.json"))
            .expect("example");
        world
            .apply_single(
                Command::CreateService {
                    doc: ServiceDoc {
                        values: BTreeMap::new(),
                        ..doc
                    },
                },
                &meta(),
            )
            .expect("service");
        world
    }

    #[test]
    fn a_stale_base_is_a_conflict_and_changes_nothing() {
        let mut world = world();
        let before = world.clone();
        let refusal = world
            .apply_single(
                Command::PatchValues {
                    service: "checkout".into(),
                    environment: "prod".into(),
                    set: BTreeMap::from([("throttle.rps".into(), json!(900))]),
                    remove: vec![],
                    base: 1,
                },
                &meta(),
            )
            .expect_err("stale");
        assert!(
            matches!(
                refusal,
                Refusal::Conflict {
                    base: 1,
                    current: 4,
                    ..
                }
            ),
            "{refusal:?}"
        );
        assert_eq!(world.revision, before.revision);
    }

    #[test]
    fn patching_values_logs_before_and_after() {
        let mut world = world();
        let change = world
            .apply_single(
                Command::PatchValues {
                    service: "checkout".into(),
                    environment: "prod".into(),
                    set: BTreeMap::from([("throttle.rps".into(), json!(900))]),
                    remove: vec!["maintenance".into()],
                    base: 4,
                },
                &meta(),
            )
            .expect("applies");
        assert_eq!(change.revision, 5);
        assert_eq!(change.kind, ChangeKind::ValuesChanged);
        assert_eq!(change.before, Some(json!({})));
        assert_eq!(change.after, Some(json!({"throttle.rps": 900})));
        assert_eq!(world.services["checkout"].revision, 5);
    }

    #[test]
    fn a_schema_change_that_breaks_stored_values_is_refused_naming_them() {
        let mut world = world();
        world
            .apply_single(
                Command::PatchValues {
                    service: "checkout".into(),
                    environment: "prod".into(),
                    set: BTreeMap::from([("throttle.rps".into(), json!(5000))]),
                    remove: vec![],
                    base: 4,
                },
                &meta(),
            )
            .expect("applies");
        let mut schema = world.services["checkout"].doc.schema.clone();
        schema.get_mut("throttle.rps").expect("key").max = Some(json!(1000));
        let refusal = world
            .apply_single(
                Command::PutSchema {
                    service: "checkout".into(),
                    schema,
                    base: 5,
                },
                &meta(),
            )
            .expect_err("breaks prod's value");
        let Refusal::Invalid(violations) = refusal else {
            panic!("expected Invalid, got {refusal:?}")
        };
        assert_eq!(violations.len(), 1);
        assert_eq!(
            violations[0].path.to_string(),
            r#"values.prod["throttle.rps"]"#
        );
        assert_eq!(violations[0].code(), "above_max");
    }

    #[test]
    fn values_for_unknown_environments_are_refused() {
        let mut world = world();
        let refusal = world
            .apply_single(
                Command::PatchValues {
                    service: "checkout".into(),
                    environment: "qa".into(),
                    set: BTreeMap::new(),
                    remove: vec![],
                    base: 4,
                },
                &meta(),
            )
            .expect_err("no such environment");
        assert!(matches!(refusal, Refusal::NotFound(_)));
    }

    #[test]
    fn tombstoned_services_can_be_restored_but_not_edited() {
        let mut world = world();
        world
            .apply_single(
                Command::DeleteService {
                    service: "checkout".into(),
                    base: 4,
                },
                &meta(),
            )
            .expect("deletes");
        assert!(world.services["checkout"].tombstone.is_some());
        let refusal = world
            .apply_single(
                Command::DeleteFlag {
                    service: "checkout".into(),
                    key: "new-checkout-flow".into(),
                    base: 5,
                },
                &meta(),
            )
            .expect_err("deleted");
        assert!(matches!(refusal, Refusal::NotFound(_)));
        let change = world
            .apply_single(
                Command::RestoreService {
                    service: "checkout".into(),
                },
                &meta(),
            )
            .expect("restores");
        assert_eq!(change.kind, ChangeKind::ServiceRestored);
        assert!(world.services["checkout"].tombstone.is_none());
    }

    #[test]
    fn reclaiming_waits_for_the_reclaim_time() {
        let mut world = world();
        world
            .apply_single(
                Command::DeleteService {
                    service: "checkout".into(),
                    base: 4,
                },
                &meta(),
            )
            .expect("deletes");
        let early = world.apply_single(
            Command::ReclaimService {
                service: "checkout".into(),
            },
            &meta(),
        );
        assert!(matches!(early, Err(Refusal::NotFound(_))), "{early:?}");
        let later = Meta {
            at: "2026-11-29T10:00:00.000Z".into(),
            ..meta()
        };
        let change = world
            .apply_single(
                Command::ReclaimService {
                    service: "checkout".into(),
                },
                &later,
            )
            .expect("due");
        assert_eq!(change.kind, ChangeKind::ServiceReclaimed);
        assert!(!world.services.contains_key("checkout"));
    }
}
