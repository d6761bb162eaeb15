//! `setpoint verify`: replays the change log from the first revision and
//! checks that it reproduces the current state, which is written beside the
//! log in the same transactions. A mismatch means the log cannot be trusted
//! as the history of the state — the one thing it must never be.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

use serde::de::DeserializeOwned;
use serde_json::Value;
use setpoint_core::{
    BreakerState, Change, ChangeKind, Serve, ServiceDoc, Tombstone, Values, breaker::BreakerStatus,
    rollout::Rollout,
};

use crate::{
    store::{ChangeQuery, Store, StoreError},
    world::{BreakerStates, ChangeRequest, EnvironmentRecord, Rollouts, ServiceRecord, World},
};

/// What verification found.
#[derive(Debug, Default)]
pub struct Report {
    /// Changes replayed.
    pub changes: u64,
    /// Problems; empty when the log and the state agree.
    pub problems: Vec<String>,
}

/// Reads the change log oldest first, a page at a time, so replaying a
/// long log does not hold it all in memory.
struct LogReader {
    query: ChangeQuery,
}

impl LogReader {
    /// The whole log, or one service's part of it.
    fn new(service: Option<&str>) -> Self {
        let query = ChangeQuery {
            service: service.map(str::to_owned),
            after_revision: Some(0),
            limit: 1000,
            ..ChangeQuery::default()
        };
        Self { query }
    }

    /// The next page, or `None` at the end.
    async fn next_page(&mut self, store: &dyn Store) -> Result<Option<Vec<Change>>, StoreError> {
        let page = store.changes(&self.query).await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        self.query.after_revision = Some(last.revision);
        Ok(Some(page))
    }
}

/// Replays the whole log of `store` and compares it with the stored state.
pub async fn verify(store: &dyn Store) -> Result<Report, StoreError> {
    let mut replayed = World::default();
    let mut report = Report::default();
    let mut log = LogReader::new(None);
    while let Some(page) = log.next_page(store).await? {
        for change in &page {
            report.changes += 1;
            if change.revision != replayed.revision + 1 {
                report.problems.push(format!(
                    "revision {} follows {}: the log has a gap",
                    change.revision, replayed.revision
                ));
            }
            if let Err(problem) = replay(&mut replayed, change) {
                report
                    .problems
                    .push(format!("revision {}: {problem}", change.revision));
            }
            replayed.revision = change.revision;
        }
    }
    let stored = store.load().await?;
    compare(&replayed, &stored, &mut report.problems);
    Ok(report)
}

/// The document of `service` as it was right after revision `revision`,
/// rebuilt from the log; `None` if the service did not exist then.
pub async fn service_at(
    store: &dyn Store,
    service: &str,
    revision: u64,
) -> Result<Result<Option<ServiceDoc>, String>, StoreError> {
    let mut world = World::default();
    let mut log = LogReader::new(Some(service));
    'pages: while let Some(page) = log.next_page(store).await? {
        for change in &page {
            if change.revision > revision {
                break 'pages;
            }
            if let Err(problem) = replay(&mut world, change) {
                return Ok(Err(format!("revision {}: {problem}", change.revision)));
            }
        }
    }
    Ok(Ok(world
        .services
        .get(service)
        .filter(|r| r.tombstone.is_none())
        .map(|r| r.doc.clone())))
}

fn parse<T: DeserializeOwned>(value: Option<&Value>, what: &str) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{what} is missing"))?;
    serde_json::from_value(value.clone()).map_err(|e| format!("{what} does not parse: {e}"))
}

/// Applies one logged change to `world`, from its recorded `after` state.
#[expect(
    clippy::too_many_lines,
    reason = "one arm per kind of change, kept exhaustive"
)]
fn replay(world: &mut World, change: &Change) -> Result<(), String> {
    let service = || {
        change
            .service
            .clone()
            .ok_or_else(|| "a service change names no service".to_string())
    };
    let record = |world: &World, name: &str| {
        world
            .services
            .get(name)
            .map(|r| (**r).clone())
            .ok_or_else(|| format!("service {name:?} does not exist at this point"))
    };
    let put = |world: &mut World, mut record: ServiceRecord| {
        record.revision = change.revision;
        record.prune_breakers(&world.environments);
        world
            .services
            .insert(record.doc.service.clone(), Arc::new(record));
    };
    match change.kind {
        ChangeKind::EnvironmentCreated => {
            let env: EnvironmentRecord = parse(change.after.as_ref(), "the environment")?;
            world.environments.insert(env.name.clone(), Arc::new(env));
        }
        ChangeKind::ServiceCreated => {
            let doc = parse(change.after.as_ref(), "the document")?;
            put(
                world,
                ServiceRecord {
                    doc,
                    revision: 0,
                    tombstone: None,
                    breakers: BreakerStates::new(),
                    managed_by: None,
                    rollouts: Rollouts::new(),
                },
            );
        }
        ChangeKind::ServiceReplaced | ChangeKind::Rollback | ChangeKind::ServiceUpdated => {
            let mut current = record(world, &service()?)?;
            current.doc = parse(change.after.as_ref(), "the document")?;
            put(world, current);
        }
        ChangeKind::ValuesChanged => {
            let mut current = record(world, &service()?)?;
            let env = change
                .environment
                .clone()
                .ok_or("a values change names no environment")?;
            let values: Values = parse(change.after.as_ref(), "the values")?;
            if values.is_empty() {
                current.doc.values.remove(&env);
            } else {
                current.doc.values.insert(env, values);
            }
            put(world, current);
        }
        ChangeKind::SchemaChanged => {
            let mut current = record(world, &service()?)?;
            current.doc.schema = parse(change.after.as_ref(), "the schema")?;
            put(world, current);
        }
        ChangeKind::FlagChanged => {
            let mut current = record(world, &service()?)?;
            replace_item(&mut current.doc.flags, change, "flag")?;
            put(world, current);
        }
        ChangeKind::BreakerDefined => {
            let mut current = record(world, &service()?)?;
            replace_item(&mut current.doc.breakers, change, "breaker")?;
            put(world, current);
        }
        ChangeKind::ServiceTombstoned => {
            let mut current = record(world, &service()?)?;
            current.tombstone = Some(parse::<Tombstone>(change.after.as_ref(), "the tombstone")?);
            put(world, current);
        }
        ChangeKind::ServiceRestored => {
            let mut current = record(world, &service()?)?;
            current.tombstone = None;
            put(world, current);
        }
        ChangeKind::ServiceReclaimed => {
            world.services.remove(&service()?);
        }
        // Recording who manages a service does not move its revision: a
        // later one is what tells that it drifts from its files.
        ChangeKind::ServiceManaged => {
            let name = service()?;
            let mut current = record(world, &name)?;
            current.managed_by = Some(parse(change.after.as_ref(), "the files")?);
            world.services.insert(name, Arc::new(current));
        }
        // A transition moves a breaker's state, not the service's revision.
        ChangeKind::BreakerTransition => replay_transition(world, change)?,
        ChangeKind::RolloutTransition => replay_rollout(world, change)?,
        ChangeKind::EnvironmentPolicySet
        | ChangeKind::ChangeRequestOpened
        | ChangeKind::ChangeRequestApproved
        | ChangeKind::ChangeRequestRejected
        | ChangeKind::ChangeRequestCommented
        | ChangeKind::ChangeRequestWithdrawn
        | ChangeKind::ChangeRequestRebased
        | ChangeKind::ChangeRequestApplied
        | ChangeKind::ChangeRequestFailed => replay_control(world, change)?,
        // People and machines are not part of the world.
        ChangeKind::UserSaved
        | ChangeKind::UserDeleted
        | ChangeKind::TokenCreated
        | ChangeKind::TokenRevoked => {}
    }
    Ok(())
}

/// Sets an environment's policy, or a change request as a step left it:
/// each step logs the whole request as it stands after it.
fn replay_control(world: &mut World, change: &Change) -> Result<(), String> {
    if change.kind.is_change_request() {
        let request: ChangeRequest = parse(change.after.as_ref(), "the change request")?;
        world.change_requests.insert(request.id, Arc::new(request));
        return Ok(());
    }
    let name = change
        .environment
        .clone()
        .ok_or("a policy names no environment")?;
    let env = world
        .environments
        .get(&name)
        .ok_or_else(|| format!("environment {name:?} does not exist at this point"))?;
    let env = EnvironmentRecord {
        policy: parse(change.after.as_ref(), "the policy")?,
        ..EnvironmentRecord::clone(env)
    };
    world.environments.insert(name, Arc::new(env));
    Ok(())
}

/// Moves a breaker's state, not the service's revision.
fn replay_transition(world: &mut World, change: &Change) -> Result<(), String> {
    let name = change
        .service
        .clone()
        .ok_or_else(|| "a breaker transition names no service".to_string())?;
    let mut current = world
        .services
        .get(&name)
        .map(|r| (**r).clone())
        .ok_or_else(|| format!("service {name:?} does not exist at this point"))?;
    let (Some(environment), Some(breaker)) = (&change.environment, &change.item) else {
        return Err("a breaker transition names no environment or breaker".into());
    };
    let after: Value = parse(change.after.as_ref(), "the breaker's state")?;
    let state: BreakerState = parse(after.get("state"), "the breaker's state")?;
    current
        .breakers
        .entry(environment.clone())
        .or_default()
        .insert(
            breaker.clone(),
            BreakerStatus {
                state,
                ..BreakerStatus::default()
            },
        );
    world.services.insert(name, Arc::new(current));
    Ok(())
}

/// Records a rollout as a transition left it, and the default it serves:
/// only a transition that changed the default moved the service's revision.
fn replay_rollout(world: &mut World, change: &Change) -> Result<(), String> {
    let name = change
        .service
        .clone()
        .ok_or_else(|| "a rollout transition names no service".to_string())?;
    let mut current = world
        .services
        .get(&name)
        .map(|r| (**r).clone())
        .ok_or_else(|| format!("service {name:?} does not exist at this point"))?;
    let (Some(environment), Some(flag)) = (&change.environment, &change.item) else {
        return Err("a rollout transition names no environment or flag".into());
    };
    let after: Value = parse(change.after.as_ref(), "the rollout")?;
    let rollout: Rollout = parse(after.get("rollout"), "the rollout")?;
    let default: Option<Serve> = parse(after.get("default"), "the default")?;
    current
        .rollouts
        .entry(environment.clone())
        .or_default()
        .insert(flag.clone(), rollout);
    let targeting = current
        .doc
        .flags
        .get_mut(flag)
        .and_then(|f| f.environments.get_mut(environment));
    match (targeting, default) {
        (Some(targeting), Some(default)) if targeting.default != default => {
            targeting.default = default;
            current.revision = change.revision;
        }
        _ => {}
    }
    world.services.insert(name, Arc::new(current));
    Ok(())
}

/// Sets the change's item to its `after`, or removes it when there is none.
fn replace_item<T: DeserializeOwned>(
    items: &mut BTreeMap<String, T>,
    change: &Change,
    what: &str,
) -> Result<(), String> {
    let key = change
        .item
        .clone()
        .ok_or_else(|| format!("a {what} change names no {what}"))?;
    match &change.after {
        Some(after) => {
            items.insert(key, parse(Some(after), what)?);
        }
        None => {
            items.remove(&key);
        }
    }
    Ok(())
}

/// The breakers not closed, by environment and name, with their state: what
/// the log's transitions determine (the bookkeeping of which alerts fire is
/// operational state, not history).
fn open_breakers(record: &ServiceRecord) -> Vec<(&str, &str, BreakerState)> {
    record
        .breakers
        .iter()
        .flat_map(|(env, states)| {
            states
                .iter()
                .filter(|(_, status)| status.state != BreakerState::Closed)
                .map(move |(name, status)| (env.as_str(), name.as_str(), status.state))
        })
        .collect()
}

/// Where each rollout stands (the alerts on record are operational state,
/// as for breakers).
fn rollout_states(record: &ServiceRecord) -> Vec<(&str, &str, String)> {
    record
        .rollouts
        .iter()
        .flat_map(|(env, flags)| {
            flags
                .iter()
                .map(move |(flag, rollout)| (env.as_str(), flag.as_str(), rollout.summary()))
        })
        .collect()
}

fn compare(replayed: &World, stored: &World, problems: &mut Vec<String>) {
    if replayed.revision != stored.revision {
        problems.push(format!(
            "the log ends at revision {} but the state is at {}",
            replayed.revision, stored.revision
        ));
    }
    let names = |w: &World| w.environments.keys().cloned().collect::<Vec<_>>();
    if names(replayed) != names(stored) {
        problems.push(format!(
            "environments differ: log {:?}, state {:?}",
            names(replayed),
            names(stored)
        ));
    }
    for (name, env) in &replayed.environments {
        if let Some(stored) = stored.environments.get(name)
            && stored.policy != env.policy
        {
            problems.push(format!(
                "environment {name:?} has another policy than the log gives"
            ));
        }
    }
    let requests = |w: &World| {
        w.change_requests
            .values()
            .map(|r| serde_json::to_value(r).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    let (logged, kept) = (requests(replayed), requests(stored));
    for (a, b) in logged.iter().zip(&kept) {
        if a != b {
            problems.push(format!(
                "change request #{} differs from what the log gives",
                b["id"]
            ));
        }
    }
    if logged.len() != kept.len() {
        problems.push(format!(
            "the log gives {} change request(s), the state has {}",
            logged.len(),
            kept.len()
        ));
    }
    let all: BTreeSet<&String> = replayed
        .services
        .keys()
        .chain(stored.services.keys())
        .collect();
    for name in all {
        match (replayed.services.get(name), stored.services.get(name)) {
            (Some(a), Some(b))
                if a.doc == b.doc
                    && a.revision == b.revision
                    && a.tombstone == b.tombstone
                    && a.managed_by == b.managed_by
                    && open_breakers(a) == open_breakers(b)
                    && rollout_states(a) == rollout_states(b) => {}
            (Some(a), Some(b)) => problems.push(format!(
                "service {name:?} differs: the log gives revision {}, the state has revision {}{}",
                a.revision,
                b.revision,
                match (a.doc == b.doc, open_breakers(a) == open_breakers(b)) {
                    (true, true) => " (documents equal)",
                    (true, false) => " and different breaker states",
                    (false, _) => " and a different document",
                }
            )),
            (Some(_), None) => problems.push(format!(
                "service {name:?} is in the log but not in the state"
            )),
            (None, Some(_)) => problems.push(format!(
                "service {name:?} is in the state but not in the log"
            )),
            (None, None) => {}
        }
    }
}
