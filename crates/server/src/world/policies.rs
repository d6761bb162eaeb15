//! Environment policies in the world: setting one, and holding each edit by
//! a person or a token to the policies of the environments it changes.
//!
//! The edit is applied first and judged by its result — which environments
//! now serve something else — so the rule needs no list of which command
//! touches what, and an edit that changes only a description passes every
//! policy.

use std::sync::Arc;

use setpoint_core::{
    ChangeKind, Gate, Policy,
    policy::{Writer, touches},
};

use super::{Command, Entry, EnvironmentRecord, Meta, Refusal, ServiceRecord, World, to_value};

/// A guarded edit's service as it was before the edit, to judge the edit
/// by and to undo it.
pub(super) struct Guarded {
    service: String,
    prior: Option<Arc<ServiceRecord>>,
    revision: u64,
}

impl Command {
    /// The service an edit changes. Policies guard these commands only:
    /// not breaker trips and closes (an incident cannot wait for a review
    /// or a freeze to end), nor the server's own timers.
    pub fn edited_service(&self) -> Option<&str> {
        match self {
            Self::CreateService { doc }
            | Self::ReplaceService { doc, .. }
            | Self::Rollback { doc, .. } => Some(&doc.service),
            Self::PatchValues { service, .. }
            | Self::PutSchema { service, .. }
            | Self::PutFlag { service, .. }
            | Self::DeleteFlag { service, .. }
            | Self::DeleteService { service, .. }
            | Self::RestoreService { service }
            | Self::PutBreaker { service, .. }
            | Self::DeleteBreaker { service, .. }
            | Self::FromFiles { service, .. }
            | Self::StartRollout { service, .. } => Some(service),
            _ => None,
        }
    }

    /// The same edit based on `revision` instead: what rebasing a change
    /// request makes of it.
    pub(super) fn rebased(mut self, revision: u64) -> Self {
        match &mut self {
            Self::ReplaceService { base, .. }
            | Self::Rollback { base, .. }
            | Self::PatchValues { base, .. }
            | Self::PutSchema { base, .. }
            | Self::PutFlag { base, .. }
            | Self::DeleteFlag { base, .. }
            | Self::DeleteService { base, .. }
            | Self::PutBreaker { base, .. }
            | Self::DeleteBreaker { base, .. }
            | Self::FromFiles { base, .. }
            | Self::StartRollout { base, .. } => *base = revision,
            _ => {}
        }
        self
    }
}

impl World {
    pub(super) fn set_policy(
        &mut self,
        environment: String,
        policy: Policy,
        meta: &Meta,
    ) -> Result<Entry, Refusal> {
        let record = self.environments.get(&environment).ok_or_else(|| {
            Refusal::NotFound(format!("environment {environment:?} does not exist"))
        })?;
        let policy = policy.normalized(meta.now).map_err(Refusal::Invalid)?;
        let before = to_value(&record.policy);
        let after = to_value(&policy);
        let record = EnvironmentRecord {
            policy,
            ..EnvironmentRecord::clone(record)
        };
        self.environments
            .insert(environment.clone(), Arc::new(record));
        Ok(Entry {
            environment: Some(environment),
            ..Entry::new(
                ChangeKind::EnvironmentPolicySet,
                None,
                Some(before),
                Some(after),
            )
        })
    }

    /// What must be kept to judge `command` once applied, if policies
    /// apply to it: an edit, by a person or a token, while some
    /// environment has a policy.
    pub(super) fn guarded(&self, command: &Command, meta: &Meta) -> Option<Guarded> {
        meta.role?;
        let service = command.edited_service()?;
        if self.environments.values().all(|e| e.policy.is_open()) {
            return None;
        }
        Some(Guarded {
            service: service.to_string(),
            prior: self.services.get(service).cloned(),
            revision: self.revision,
        })
    }

    /// Keeps the applied edit if its writer meets the policies of the
    /// environments it changed; otherwise undoes it.
    pub(super) fn admit(&mut self, guarded: Guarded, meta: &Meta) -> Result<(), Refusal> {
        let Err(gate) = self.gate(&guarded.service, guarded.prior.as_deref(), meta) else {
            return Ok(());
        };
        match guarded.prior {
            Some(prior) => self.services.insert(guarded.service, prior),
            None => self.services.remove(&guarded.service),
        };
        self.revision = guarded.revision;
        Err(gate.into())
    }

    /// The first policy `meta`'s writer does not meet among those of the
    /// environments that serve `service` differently than when it was
    /// `prior`.
    fn gate(&self, service: &str, prior: Option<&ServiceRecord>, meta: &Meta) -> Result<(), Gate> {
        let Some(role) = meta.role else {
            return Ok(());
        };
        let writer = Writer {
            role,
            gave_reason: !meta.reason.trim().is_empty(),
            approved: meta.approved,
        };
        for env in self.touched(service, prior) {
            env.policy.admit(&env.name, writer, meta.now)?;
        }
        Ok(())
    }

    /// The environments that serve `service` differently than when it was
    /// `prior`. Deleting or restoring a service changes every environment:
    /// its snapshot carries the tombstone.
    pub(super) fn touched<'w>(
        &'w self,
        service: &str,
        prior: Option<&ServiceRecord>,
    ) -> impl Iterator<Item = &'w EnvironmentRecord> {
        let current = self.services.get(service).map(Arc::as_ref);
        let tombstoned = |r: Option<&ServiceRecord>| r.map(|r| r.tombstone.is_some());
        let flipped = tombstoned(prior) != tombstoned(current);
        let (before, after) = (prior.map(|r| &r.doc), current.map(|r| &r.doc));
        self.environments
            .values()
            .filter(move |env| flipped || touches(before, after, &env.name))
            .map(Arc::as_ref)
    }
}
