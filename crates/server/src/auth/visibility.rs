//! What a principal may **see**, beside what it may do ([`Principal::can`]).
//!
//! A scope — a list of services, one environment, or both — limits every
//! answer, not only the arguments a request names: a viewer of `checkout`
//! never meets another service in a list, a snapshot, the change log or an
//! event stream, and a token limited to `staging` never meets a production
//! value, flag rule or breaker state, even inside a whole document or the
//! `before` of a change. Handlers pass what they are about to send through
//! [`Visible::visible_to`]; this module is the one place that decides.
//!
//! Unscoped principals see everything at no cost: every view borrows.
//! Users and tokens (the roster, and their entries in the change log) and
//! alerts no breaker claimed belong to no service, so only unscoped
//! principals see them.

use std::borrow::Cow;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use setpoint_core::{Breaker, Change, ChangeKind, Flag, ServiceDoc};

use super::Principal;
use crate::world::{ChangeRequest, Command, RolloutAt, ServiceRecord};

impl Principal {
    /// Whether `service` lies inside the principal's scope.
    pub fn sees_service(&self, service: &str) -> bool {
        self.services
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s == service))
    }

    /// Whether `environment` lies inside the principal's scope.
    pub fn sees_environment(&self, environment: &str) -> bool {
        self.environment.as_deref().is_none_or(|e| e == environment)
    }

    /// Whether nothing limits what the principal sees.
    pub fn sees_everything(&self) -> bool {
        self.services.is_none() && self.environment.is_none()
    }
}

/// A rollout belongs to its service and its environment.
impl Visible for RolloutAt {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        (viewer.sees_service(&self.service) && viewer.sees_environment(&self.environment))
            .then_some(Cow::Borrowed(self))
    }
}

/// Something an answer may carry, as one principal may see it: `None` when
/// it lies wholly outside the scope, borrowed when nothing of it needs
/// hiding, owned when parts of it were cut away.
pub trait Visible: Clone {
    /// What of `self` `viewer` may see.
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>>;
}

impl Visible for ServiceDoc {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        if !viewer.sees_service(&self.service) {
            return None;
        }
        let Some(env) = &viewer.environment else {
            return Some(Cow::Borrowed(self));
        };
        let mut doc = self.clone();
        doc.values.retain(|name, _| name == env);
        for flag in doc.flags.values_mut() {
            flag.environments.retain(|name, _| name == env);
        }
        doc.breakers = doc
            .breakers
            .iter()
            .filter_map(|(name, breaker)| Some((name.clone(), only_in(breaker, env)?)))
            .collect();
        Some(Cow::Owned(doc))
    }
}

impl Visible for ServiceRecord {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        match self.doc.visible_to(viewer)? {
            Cow::Borrowed(_) => Some(Cow::Borrowed(self)),
            Cow::Owned(doc) => {
                let mut breakers = self.breakers.clone();
                breakers.retain(|env, _| viewer.sees_environment(env));
                let mut rollouts = self.rollouts.clone();
                rollouts.retain(|env, _| viewer.sees_environment(env));
                Some(Cow::Owned(Self {
                    doc,
                    breakers,
                    rollouts,
                    ..self.clone()
                }))
            }
        }
    }
}

impl Visible for Change {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        if matches!(
            self.kind,
            ChangeKind::UserSaved
                | ChangeKind::UserDeleted
                | ChangeKind::TokenCreated
                | ChangeKind::TokenRevoked
        ) {
            return viewer.sees_everything().then_some(Cow::Borrowed(self));
        }
        if self
            .service
            .as_deref()
            .is_some_and(|s| !viewer.sees_service(s))
            || self
                .environment
                .as_deref()
                .is_some_and(|e| !viewer.sees_environment(e))
        {
            return None;
        }
        // A change request's entry carries its edit, which may hold a whole
        // document even when it changes one environment.
        if viewer.environment.is_some() && self.kind.is_change_request() {
            let mut change = self.clone();
            change.before = self
                .before
                .as_ref()
                .and_then(|v| cut_as::<ChangeRequest>(v, viewer));
            change.after = self
                .after
                .as_ref()
                .and_then(|v| cut_as::<ChangeRequest>(v, viewer));
            return change.after.is_some().then_some(Cow::Owned(change));
        }
        // A change of one environment (values, a breaker's state) is wholly
        // inside or outside; one of the whole service may carry every
        // environment in its `before` and `after`.
        let Some(env) = viewer
            .environment
            .as_deref()
            .filter(|_| self.environment.is_none())
        else {
            return Some(Cow::Borrowed(self));
        };
        let cut: fn(&Value, &Principal) -> Option<Value> = match self.kind {
            ChangeKind::ServiceCreated
            | ChangeKind::ServiceReplaced
            | ChangeKind::ServiceReclaimed
            | ChangeKind::Rollback => cut_as::<ServiceDoc>,
            ChangeKind::FlagChanged => cut_as::<Flag>,
            ChangeKind::BreakerDefined => {
                // A breaker that does not exist in the viewer's environment
                // is not theirs to see defined.
                let exists_here = |side: &Option<Value>| {
                    side.as_ref()
                        .and_then(|v| serde_json::from_value::<Breaker>(v.clone()).ok())
                        .is_some_and(|b| b.exists_in(env))
                };
                if !exists_here(&self.before) && !exists_here(&self.after) {
                    return None;
                }
                cut_as::<Breaker>
            }
            _ => return Some(Cow::Borrowed(self)),
        };
        let mut change = self.clone();
        change.before = self.before.as_ref().and_then(|v| cut(v, viewer));
        change.after = self.after.as_ref().and_then(|v| cut(v, viewer));
        Some(Cow::Owned(change))
    }
}

impl Visible for ChangeRequest {
    /// A viewer limited to one environment sees the requests that change
    /// only that one, and their edit and diff only when the edit is of its
    /// values alone: any other edit may carry a whole document.
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        if !viewer.sees_service(&self.service) {
            return None;
        }
        let Some(env) = &viewer.environment else {
            return Some(Cow::Borrowed(self));
        };
        if self.environments.as_slice() != std::slice::from_ref(env) {
            return None;
        }
        let own_values = self
            .edit
            .iter()
            .all(|c| matches!(c, Command::PatchValues { environment, .. } if environment == env));
        if own_values {
            return Some(Cow::Borrowed(self));
        }
        Some(Cow::Owned(Self {
            edit: Vec::new(),
            diff: Vec::new(),
            ..self.clone()
        }))
    }
}

impl Visible for Flag {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        let Some(env) = &viewer.environment else {
            return Some(Cow::Borrowed(self));
        };
        let mut flag = self.clone();
        flag.environments.retain(|name, _| name == env);
        Some(Cow::Owned(flag))
    }
}

impl Visible for Breaker {
    fn visible_to<'a>(&'a self, viewer: &Principal) -> Option<Cow<'a, Self>> {
        match &viewer.environment {
            None => Some(Cow::Borrowed(self)),
            Some(env) => only_in(self, env).map(Cow::Owned),
        }
    }
}

/// `breaker` as seen from `env`, naming no other environment; `None` when
/// it does not exist there.
fn only_in(breaker: &Breaker, env: &str) -> Option<Breaker> {
    breaker.exists_in(env).then(|| Breaker {
        environments: if breaker.environments.is_empty() {
            Vec::new()
        } else {
            vec![env.to_string()]
        },
        ..breaker.clone()
    })
}

/// A logged item, cut to what `viewer` may see. A payload that does not
/// read as `T` is withheld whole: hiding too much is the safe mistake.
fn cut_as<T: Visible + Serialize + DeserializeOwned>(
    value: &Value,
    viewer: &Principal,
) -> Option<Value> {
    let item: T = serde_json::from_value(value.clone()).ok()?;
    serde_json::to_value(item.visible_to(viewer)?.as_ref()).ok()
}
