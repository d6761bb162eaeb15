//! Progressive rollouts in the world: a person starts a plan, time moves it
//! a step at a time, guards pull it back, people steer it. The state
//! machine is the core's ([`setpoint_core::rollout`]); this module finds
//! the rollouts an event concerns, writes the share each serves into its
//! flag's default — so snapshots, agents and SDKs need nothing new — and
//! logs every transition.
//!
//! A transition that changes what the flag serves is an edit of the
//! service and moves its revision; one that does not (a pause, a guard
//! firing while the plan already waits) is logged without moving it.

use std::sync::Arc;

use serde_json::{Value, json};
use setpoint_core::{
    ChangeKind, Serve, ServiceDoc,
    breaker::{Alert, AlertStatus},
    rollout::{Guard, Rollout, RolloutPlan, RolloutState, Steer},
};

use super::{AlertScope, Command, Entry, Meta, Refusal, World, breakers::alert_reason, to_value};

/// Whether a transition writes the share it serves into the flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Serving {
    Write,
    /// Someone else's edit of the default stands (the plan pauses over it),
    /// or the targeting is gone.
    Leave,
}

/// Where a rollout lives: service, environment, flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutAt {
    /// Service.
    pub service: String,
    /// Environment.
    pub environment: String,
    /// Flag key.
    pub flag: String,
}

impl World {
    /// Applies a rollout command.
    pub(super) fn apply_rollout(
        &mut self,
        command: Command,
        meta: &Meta,
        revision: u64,
    ) -> Result<Vec<Entry>, Refusal> {
        match command {
            Command::StartRollout {
                service,
                flag,
                environment,
                plan,
                base,
            } => {
                let at = RolloutAt {
                    service,
                    environment,
                    flag,
                };
                Ok(vec![self.start_rollout(&at, plan, base, meta, revision)?])
            }
            Command::SteerRollout { at, steer } => {
                Ok(vec![self.steer_rollout(&at, &steer, meta, revision)?])
            }
            Command::TickRollouts => Ok(self.tick_rollouts(meta)),
            _ => unreachable!("only rollout commands come here"),
        }
    }

    fn start_rollout(
        &mut self,
        at: &RolloutAt,
        plan: RolloutPlan,
        base: u64,
        meta: &Meta,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let record = self.live(&at.service, base)?;
        if !self.environments.contains_key(&at.environment) {
            return Err(Refusal::NotFound(format!(
                "environment {:?} does not exist",
                at.environment
            )));
        }
        let flag = record.doc.flags.get(&at.flag).ok_or_else(|| {
            Refusal::NotFound(format!(
                "flag {:?} does not exist in {:?}",
                at.flag, at.service
            ))
        })?;
        if let Some(current) = rollout_of(&record.rollouts, at)
            && !current.state.is_final()
        {
            return Err(Refusal::RolloutState(format!(
                "a rollout of {:?} in {:?} is {}: abort it before starting another",
                at.flag,
                at.environment,
                current.state.as_str()
            )));
        }
        let base_variant = plan
            .check(flag, &at.environment, &record.doc.breakers)
            .map_err(Refusal::Invalid)?;
        let rollout = Rollout::start(plan, base_variant, meta.actor.clone(), meta.now);
        self.move_rollout(at, rollout, Serving::Write, revision)
    }

    fn steer_rollout(
        &mut self,
        at: &RolloutAt,
        steer: &Steer,
        meta: &Meta,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let record = self
            .services
            .get(&at.service)
            .filter(|r| r.tombstone.is_none())
            .ok_or_else(|| Refusal::NotFound(format!("service {:?} does not exist", at.service)))?;
        let current = rollout_of(&record.rollouts, at).ok_or_else(|| {
            Refusal::NotFound(format!(
                "flag {:?} has no rollout in {:?}",
                at.flag, at.environment
            ))
        })?;
        let next = current
            .steer(steer, &open_guard_breakers(self, at, current), meta.now)
            .map_err(|refused| Refusal::RolloutState(refused.to_string()))?;
        self.move_rollout(at, next, Serving::Write, revision)
    }

    /// Moves every running rollout whose step held its time. A plan whose
    /// default was changed by hand since its last step pauses instead of
    /// overwriting that edit; one whose flag or targeting is gone ends. In
    /// a freeze, plans wait on their step: advancing is a change, and a
    /// freeze admits none but an admin's.
    fn tick_rollouts(&mut self, meta: &Meta) -> Vec<Entry> {
        let mut entries = Vec::new();
        for at in self.rollouts_due(meta.now) {
            let record = &self.services[&at.service];
            let Some(current) = rollout_of(&record.rollouts, &at) else {
                continue;
            };
            let (next, serving, reason) = match served_default(&record.doc, &at) {
                None => {
                    let mut ended = current.clone();
                    ended.state = RolloutState::Aborted;
                    ended.since.clone_from(&meta.at);
                    let reason = "the flag or its targeting was removed".to_string();
                    ended.note = Some(reason.clone());
                    (ended, Serving::Leave, reason)
                }
                Some(default) if *default != current.serve() => {
                    let Ok(mut paused) = current.steer(&Steer::Pause, &[], meta.now) else {
                        continue;
                    };
                    paused.note = Some(
                        "the default was changed by hand: resume to go on from this step".into(),
                    );
                    (
                        paused,
                        Serving::Leave,
                        "the default was changed by hand".into(),
                    )
                }
                Some(_) => {
                    let next = current.tick(meta.now);
                    let held = &current.plan.steps[current.step];
                    let reason = format!(
                        "step {} ({} %) held {}",
                        current.step + 1,
                        held.percent,
                        held.hold
                    );
                    (next, Serving::Write, reason)
                }
            };
            let revision = self.revision + entries.len() as u64 + 1;
            if let Ok(mut entry) = self.move_rollout(&at, next, serving, revision) {
                entry.reason = Some(reason);
                entries.push(entry);
            }
        }
        entries
    }

    /// Running rollouts whose step has held its time at `now`, outside a
    /// freeze of their environment.
    pub fn rollouts_due(&self, now: i64) -> Vec<RolloutAt> {
        let frozen = |environment: &str| {
            self.environments
                .get(environment)
                .is_some_and(|env| env.policy.freeze_at(now).is_some())
        };
        self.rollouts()
            .filter(|(at, rollout)| {
                rollout.due_at().is_some_and(|due| due <= now) && !frozen(&at.environment)
            })
            .map(|(at, _)| at)
            .collect()
    }

    /// Every rollout of every live service, ended ones included.
    pub fn rollouts(&self) -> impl Iterator<Item = (RolloutAt, &Rollout)> {
        self.services
            .values()
            .filter(|r| r.tombstone.is_none())
            .flat_map(|record| {
                record.rollouts.iter().flat_map(move |(env, flags)| {
                    flags.iter().map(move |(flag, rollout)| {
                        let at = RolloutAt {
                            service: record.doc.service.clone(),
                            environment: env.clone(),
                            flag: flag.clone(),
                        };
                        (at, rollout)
                    })
                })
            })
    }

    /// An alert reached the rollouts whose guards catch it: firing, it
    /// halts them (logged as the alert, with its labels and summary);
    /// resolved, it stops standing in a resume's way. Returns whether any
    /// guard caught it, so that it does not count as unrouted.
    pub(super) fn guard_alert(
        &mut self,
        alert: &Alert,
        receiver: &str,
        scope: &AlertScope,
        meta: &Meta,
        entries: &mut Vec<Entry>,
    ) -> bool {
        let caught: Vec<(RolloutAt, Rollout)> = self
            .rollouts()
            .filter(|(at, rollout)| {
                !rollout.state.is_final()
                    && alert
                        .environment()
                        .is_none_or(|wanted| wanted == at.environment)
                    && rollout.plan.guards.iter().any(|g| g.catches(&alert.labels))
            })
            .map(|(at, rollout)| (at, rollout.clone()))
            .collect();
        let what = alert_reason(alert, receiver);
        for (at, current) in &caught {
            if !scope.allows(&at.service, &at.environment) {
                continue;
            }
            let next = match alert.status {
                AlertStatus::Firing => {
                    current.guard_fired(Some(&alert.fingerprint), &what, meta.now)
                }
                AlertStatus::Resolved => current.guard_resolved(&alert.fingerprint),
            };
            self.record_guard(
                at,
                current,
                next,
                format!("alert:{}", alert.fingerprint),
                &what,
                entries,
            );
        }
        !caught.is_empty()
    }

    /// A breaker of `service` opened in `environment`: the rollouts there
    /// that it guards halt.
    pub(super) fn guard_breaker(
        &mut self,
        service: &str,
        environment: &str,
        breaker: &str,
        actor: &str,
        meta: &Meta,
        entries: &mut Vec<Entry>,
    ) {
        let Some(record) = self.services.get(service) else {
            return;
        };
        let guarded: Vec<(RolloutAt, Rollout)> = record
            .rollouts
            .get(environment)
            .into_iter()
            .flatten()
            .filter(|(_, r)| {
                !r.state.is_final()
                    && r.plan
                        .guards
                        .iter()
                        .any(|g| matches!(g, Guard::Breaker(name) if name == breaker))
            })
            .map(|(flag, r)| {
                let at = RolloutAt {
                    service: service.to_owned(),
                    environment: environment.to_owned(),
                    flag: flag.clone(),
                };
                (at, r.clone())
            })
            .collect();
        let what = format!("breaker {breaker} opened");
        for (at, current) in guarded {
            let next = current.guard_fired(None, &what, meta.now);
            self.record_guard(&at, &current, next, actor.to_owned(), &what, entries);
        }
    }

    /// Keeps what a guard event made of a rollout: logged when its state
    /// moved, kept quietly when only the alerts on record did.
    fn record_guard(
        &mut self,
        at: &RolloutAt,
        current: &Rollout,
        next: Rollout,
        actor: String,
        what: &str,
        entries: &mut Vec<Entry>,
    ) {
        if next == *current {
            return;
        }
        if next.state == current.state {
            self.set_rollout(at, next);
            return;
        }
        let revision = self.revision + entries.len() as u64 + 1;
        if let Ok(mut entry) = self.move_rollout(at, next, Serving::Write, revision) {
            entry.actor = Some(actor);
            entry.reason = Some(what.to_owned());
            entries.push(entry);
        }
    }

    /// Records `next` as the rollout at `at`, writes the share it serves
    /// into the flag's default unless told to leave it (moving the service
    /// to `revision` when that changes it), and returns the logged
    /// transition.
    fn move_rollout(
        &mut self,
        at: &RolloutAt,
        next: Rollout,
        serving: Serving,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let record = self
            .services
            .get(&at.service)
            .ok_or_else(|| Refusal::NotFound(format!("service {:?} does not exist", at.service)))?;
        let before =
            rollout_of(&record.rollouts, at).map(|r| logged(r, served_default(&record.doc, at)));
        let serve = next.serve();
        let mut doc = record.doc.clone();
        let targeting = doc
            .flags
            .get_mut(&at.flag)
            .and_then(|flag| flag.environments.get_mut(&at.environment));
        if serving == Serving::Write
            && let Some(targeting) = targeting
            && targeting.default != serve
        {
            targeting.default = serve;
            self.check(&doc)?;
            self.put(doc, revision, None);
        }
        let after = logged(&next, served_default(&self.services[&at.service].doc, at));
        self.set_rollout(at, next);
        Ok(Entry {
            item: Some(at.flag.clone()),
            environment: Some(at.environment.clone()),
            ..Entry::new(
                ChangeKind::RolloutTransition,
                Some(at.service.clone()),
                before,
                Some(after),
            )
        })
    }

    fn set_rollout(&mut self, at: &RolloutAt, rollout: Rollout) {
        if let Some(record) = self.services.get_mut(&at.service) {
            Arc::make_mut(record)
                .rollouts
                .entry(at.environment.clone())
                .or_default()
                .insert(at.flag.clone(), rollout);
        }
    }
}

fn rollout_of<'r>(rollouts: &'r super::Rollouts, at: &RolloutAt) -> Option<&'r Rollout> {
    rollouts.get(&at.environment)?.get(&at.flag)
}

/// What the flag's default serves in the rollout's environment, if the
/// flag and its targeting there still exist.
fn served_default<'d>(doc: &'d ServiceDoc, at: &RolloutAt) -> Option<&'d Serve> {
    Some(
        &doc.flags
            .get(&at.flag)?
            .environments
            .get(&at.environment)?
            .default,
    )
}

/// A rollout as the change log keeps it: the whole rollout, and what the
/// default serves with it — what `verify` replays.
fn logged(rollout: &Rollout, default: Option<&Serve>) -> Value {
    json!({ "rollout": to_value(rollout), "default": default.map(to_value) })
}

/// The breaker guards of `rollout` that are open now, as a resume's
/// refusal names them.
fn open_guard_breakers(world: &World, at: &RolloutAt, rollout: &Rollout) -> Vec<String> {
    let states = world
        .services
        .get(&at.service)
        .and_then(|r| r.breakers.get(&at.environment));
    rollout
        .plan
        .guards
        .iter()
        .filter_map(|guard| match guard {
            Guard::Breaker(name)
                if states
                    .and_then(|s| s.get(name))
                    .is_some_and(|status| status.state.is_open()) =>
            {
                Some(format!("breaker {name} is open"))
            }
            _ => None,
        })
        .collect()
}
