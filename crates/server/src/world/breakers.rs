//! Breakers in the world: their definitions (part of the service document,
//! so they follow the service's revision) and their states per environment
//! (which do not: alerts and operators move them at any time).
//!
//! The transitions themselves are the core's state machine
//! ([`setpoint_core::breaker`]); this module routes events to the breakers
//! they concern and logs every transition.

use std::{collections::BTreeMap, fmt::Write, sync::Arc};

use setpoint_core::{
    Breaker, ChangeKind,
    breaker::{Alert, BreakerStatus, Event, Refused, routes},
    time::parse_timestamp,
};

use super::{Entry, Items, Meta, Refusal, ServiceRecord, World};

/// How many unrouted alerts are kept (the most recently received).
pub const UNROUTED_KEPT: usize = 200;

/// What a person does to a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerOp {
    /// Open it.
    Trip,
    /// Close it; `force` overrides alerts that still fire.
    Close {
        /// Close even though matching alerts fire.
        force: bool,
    },
}

/// What an alert source may move: its token's service and environment
/// scope. An alert outside it moves nothing (and is not unrouted either:
/// another source may own it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertScope {
    /// Only these services' breakers; `None` for all.
    pub services: Option<Vec<String>>,
    /// Only this environment; `None` for all.
    pub environment: Option<String>,
}

impl AlertScope {
    pub(super) fn allows(&self, service: &str, environment: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == service))
            && self.environment.as_deref().is_none_or(|e| e == environment)
    }
}

pub use setpoint_wire::UnroutedAlert;

/// Breaker definitions, as items of a service document.
pub(super) const BREAKERS: Items<Breaker> = Items {
    what: "breaker",
    kind: ChangeKind::BreakerDefined,
    of: |doc| &mut doc.breakers,
};

impl World {
    pub(super) fn operate_breaker(
        &mut self,
        service: &str,
        name: &str,
        environment: &str,
        op: BreakerOp,
        meta: &Meta,
    ) -> Result<Vec<Entry>, Refusal> {
        let record = self
            .services
            .get(service)
            .filter(|r| r.tombstone.is_none())
            .ok_or_else(|| Refusal::NotFound(format!("service {service:?} does not exist")))?;
        let breaker = record
            .doc
            .breakers
            .get(name)
            .filter(|b| {
                b.environments.is_empty() || b.environments.iter().any(|e| e == environment)
            })
            .filter(|_| self.environments.contains_key(environment))
            .ok_or_else(|| {
                Refusal::NotFound(format!(
                    "breaker {name:?} of {service:?} does not exist in environment {environment:?}"
                ))
            })?;
        let event = match op {
            BreakerOp::Trip => Event::Trip {
                actor: &meta.actor,
                reason: &meta.reason,
            },
            BreakerOp::Close { force } => Event::Close { force },
        };
        let current = status_of(record, environment, name);
        let next = current
            .step(event, breaker, meta.now)
            .map_err(|refused: Refused| Refusal::BreakerState(refused.to_string()))?;
        let opened = !current.state.is_open() && next.state.is_open();
        let mut entries = vec![transition(service, name, environment, &current, &next)];
        self.set_status(service, environment, name, next);
        if opened {
            self.guard_breaker(service, environment, name, &meta.actor, meta, &mut entries);
        }
        Ok(entries)
    }

    /// Routes each alert to the breakers it matches, in every service, and
    /// steps them, and to the rollouts it guards; alerts that match none
    /// are kept as unrouted.
    pub(super) fn receive_alerts(
        &mut self,
        alerts: &[Alert],
        receiver: &str,
        scope: &AlertScope,
        meta: &Meta,
    ) -> Vec<Entry> {
        let environments = self.environment_names();
        let mut entries = Vec::new();
        for alert in alerts {
            let targets: Vec<(String, String, String)> = self
                .services
                .values()
                .filter(|r| r.tombstone.is_none())
                .flat_map(|r| {
                    routes(&r.doc, alert, &environments)
                        .into_iter()
                        .map(|(name, env)| (r.doc.service.clone(), name, env))
                })
                .collect();
            // Matched but outside the sender's scope still counts as routed:
            // another source may own those breakers.
            let routed = !targets.is_empty();
            for (service, name, environment) in targets {
                if !scope.allows(&service, &environment) {
                    continue;
                }
                let record = &self.services[&service];
                let breaker = &record.doc.breakers[&name];
                let current = status_of(record, &environment, &name);
                // Only people's events can be refused; an alert never is.
                let Ok(next) = current.step(Event::Alert(alert), breaker, meta.now) else {
                    continue;
                };
                if next == current {
                    continue;
                }
                let opened = !current.state.is_open() && next.state.is_open();
                let actor = format!("alert:{}", alert.fingerprint);
                if next.state != current.state {
                    let mut entry = transition(&service, &name, &environment, &current, &next);
                    entry.actor = Some(actor.clone());
                    entry.reason = Some(alert_reason(alert, receiver));
                    entries.push(entry);
                }
                self.set_status(&service, &environment, &name, next);
                if opened {
                    self.guard_breaker(&service, &environment, &name, &actor, meta, &mut entries);
                }
            }
            let guarded = self.guard_alert(alert, receiver, scope, meta, &mut entries);
            if !routed && !guarded {
                self.keep_unrouted(alert, receiver, meta);
            }
        }
        entries
    }

    /// Closes every `auto_after` breaker whose delay has run out.
    pub(super) fn tick_breakers(&mut self, meta: &Meta) -> Vec<Entry> {
        let mut due = Vec::new();
        for (service, record) in self.services.iter().filter(|(_, r)| r.tombstone.is_none()) {
            for (environment, states) in &record.breakers {
                for (name, current) in states {
                    let Some(breaker) = record.doc.breakers.get(name) else {
                        continue;
                    };
                    if let Ok(next) = current.step(Event::Tick, breaker, meta.now)
                        && next != *current
                    {
                        due.push((
                            service.clone(),
                            environment.clone(),
                            name.clone(),
                            current.clone(),
                            next,
                        ));
                    }
                }
            }
        }
        due.into_iter()
            .map(|(service, environment, name, current, next)| {
                let mut entry = transition(&service, &name, &environment, &current, &next);
                entry.reason =
                    Some("auto_after: the delay after the last alert resolved ran out".into());
                self.set_status(&service, &environment, &name, next);
                entry
            })
            .collect()
    }

    fn set_status(&mut self, service: &str, environment: &str, name: &str, status: BreakerStatus) {
        if let Some(record) = self.services.get_mut(service) {
            Arc::make_mut(record)
                .breakers
                .entry(environment.to_owned())
                .or_default()
                .insert(name.to_owned(), status);
        }
    }

    fn keep_unrouted(&mut self, alert: &Alert, receiver: &str, meta: &Meta) {
        let unrouted = Arc::make_mut(&mut self.unrouted);
        let stale = unrouted.get(&alert.fingerprint).is_some_and(|known| {
            let started = |a: &Alert| parse_timestamp(&a.starts_at).unwrap_or(i64::MIN);
            started(&known.alert) > started(alert)
        });
        if stale {
            return;
        }
        unrouted.insert(
            alert.fingerprint.clone(),
            UnroutedAlert {
                alert: alert.clone(),
                receiver: receiver.to_owned(),
                received_at: meta.at.clone(),
            },
        );
        while unrouted.len() > UNROUTED_KEPT {
            let oldest = unrouted
                .iter()
                .min_by(|a, b| a.1.received_at.cmp(&b.1.received_at))
                .map(|(fingerprint, _)| fingerprint.clone());
            if let Some(fingerprint) = oldest {
                unrouted.remove(&fingerprint);
            }
        }
    }
}

fn status_of(record: &ServiceRecord, environment: &str, name: &str) -> BreakerStatus {
    record
        .breakers
        .get(environment)
        .and_then(|states| states.get(name))
        .cloned()
        .unwrap_or_default()
}

/// The change-log entry of a breaker moving from `current` to `next`.
fn transition(
    service: &str,
    name: &str,
    environment: &str,
    current: &BreakerStatus,
    next: &BreakerStatus,
) -> Entry {
    Entry {
        item: Some(name.to_owned()),
        environment: Some(environment.to_owned()),
        ..Entry::new(
            ChangeKind::BreakerTransition,
            Some(service.to_owned()),
            Some(current.summary()),
            Some(next.summary()),
        )
    }
}

/// `PaymentsErrorRate firing: error rate above 5% (receiver setpoint)`.
pub(super) fn alert_reason(alert: &Alert, receiver: &str) -> String {
    let status = match alert.status {
        setpoint_core::breaker::AlertStatus::Firing => "firing",
        setpoint_core::breaker::AlertStatus::Resolved => "resolved",
    };
    let mut reason = format!("{} {status}", alert.name());
    if let Some(summary) = alert.annotations.get("summary") {
        reason.push_str(": ");
        reason.push_str(summary);
    }
    if !receiver.is_empty() {
        let _ = write!(reason, " (receiver {receiver})");
    }
    reason
}

/// Unrouted alerts, newest first.
pub fn unrouted_newest_first(world: &World) -> Vec<UnroutedAlert> {
    let mut out: Vec<UnroutedAlert> = world.unrouted.values().cloned().collect();
    out.sort_by(|a, b| b.received_at.cmp(&a.received_at));
    out
}

/// Every breaker state of an environment: (service, breaker) → status.
pub fn board(world: &World, environment: &str) -> BTreeMap<(String, String), BreakerStatus> {
    let mut out = BTreeMap::new();
    for (service, record) in world.services.iter().filter(|(_, r)| r.tombstone.is_none()) {
        for (name, breaker) in &record.doc.breakers {
            if !breaker.environments.is_empty()
                && !breaker.environments.iter().any(|e| e == environment)
            {
                continue;
            }
            out.insert(
                (service.clone(), name.clone()),
                status_of(record, environment, name),
            );
        }
    }
    out
}
