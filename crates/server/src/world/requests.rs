//! Change requests: an edit of one service held for other people's review,
//! for a time, or both.
//!
//! A request keeps the exact commands of the edit and the revision they
//! were based on. It applies as it was reviewed — on the last approval, or
//! at its time — or not at all: a service that moved since makes it stale,
//! and its author rebases it, which makes the same edit on the current
//! revision and asks for the approvals again. Every step is logged with
//! the whole request as it stands after the step, which is also how
//! `setpoint verify` replays it.

use std::sync::Arc;

use serde_json::Value;
use setpoint_core::{
    Change, ChangeKind, DiffEntry, FieldPath, Role, Violation, ViolationKind, diff,
    time::{format_timestamp, parse_timestamp},
};

use super::{Command, Entry, Meta, Refusal, World, to_value};

pub use setpoint_core::request::{RequestState, Review, Verdict};

/// A held edit of the server's commands.
pub type ChangeRequest = setpoint_core::request::ChangeRequest<Command>;

/// The change-log entry of a step, with the request as it stands after it.
fn logged(request: &ChangeRequest, kind: ChangeKind, before: Option<&ChangeRequest>) -> Entry {
    Entry {
        item: Some(format!("#{}", request.id)),
        environment: match request.environments.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        },
        ..Entry::new(
            kind,
            Some(request.service.clone()),
            before.map(to_value),
            Some(to_value(request)),
        )
    }
}

/// What an edit would do, worked out by applying it to a copy.
struct Trial {
    service: String,
    base: u64,
    environments: Vec<String>,
    diff: Vec<DiffEntry>,
    approvals_required: u32,
}

impl World {
    /// Works out what `edit` would do now, refusing it as a write would be
    /// refused (stale, invalid, missing) but not for policies: holding it
    /// is what the request is for.
    fn trial(&self, edit: &[Command], role: Role, meta: &Meta) -> Result<Trial, Refusal> {
        let service = match edit.first().and_then(Command::edited_service) {
            Some(first) if edit.iter().all(|c| c.edited_service() == Some(first)) => {
                first.to_string()
            }
            _ => {
                return Err(Refusal::NotAllowed(
                    "a change request edits exactly one service".into(),
                ));
            }
        };
        let prior = self.services.get(&service).cloned();
        let mut trial = self.clone();
        let unguarded = Meta {
            role: None,
            ..meta.clone()
        };
        for command in edit {
            trial.apply(command.clone(), &unguarded)?;
        }
        let environments: Vec<&_> = trial.touched(&service, prior.as_deref()).collect();
        let approvals_required = if role == Role::Admin {
            0
        } else {
            environments
                .iter()
                .map(|e| e.policy.approvals_required)
                .max()
                .unwrap_or(0)
        };
        let as_value = |doc: Option<&setpoint_core::ServiceDoc>| doc.map_or(Value::Null, to_value);
        Ok(Trial {
            diff: diff(
                &as_value(prior.as_ref().map(|r| &r.doc)),
                &as_value(trial.services.get(&service).map(|r| &r.doc)),
            ),
            environments: environments.iter().map(|e| e.name.clone()).collect(),
            base: prior.map_or(0, |r| r.revision),
            approvals_required,
            service,
        })
    }

    pub(super) fn open_request(
        &mut self,
        edit: Vec<Command>,
        apply_at: Option<String>,
        meta: &Meta,
        revision: u64,
    ) -> Result<Entry, Refusal> {
        let role = author_role(meta)?;
        let apply_at = apply_at
            .map(|at| {
                parse_timestamp(&at)
                    .map(format_timestamp)
                    .map_err(|message| {
                        Refusal::Invalid(vec![Violation::new(
                            FieldPath::root().key("apply_at"),
                            ViolationKind::Structure(message),
                        )])
                    })
            })
            .transpose()?;
        let trial = self.trial(&edit, role, meta)?;
        let request = ChangeRequest {
            id: revision,
            service: trial.service,
            environments: trial.environments,
            author: meta.actor.clone(),
            author_role: role,
            reason: meta.reason.clone(),
            edit,
            base: trial.base,
            diff: trial.diff,
            approvals_required: trial.approvals_required,
            state: if trial.approvals_required == 0 {
                RequestState::Approved
            } else {
                RequestState::Open
            },
            reviews: Vec::new(),
            round: 0,
            apply_at,
            opened_at: meta.at.clone(),
            updated_at: meta.at.clone(),
            outcome: None,
            applied_revision: None,
        };
        let entry = logged(&request, ChangeKind::ChangeRequestOpened, None);
        self.change_requests.insert(request.id, Arc::new(request));
        Ok(entry)
    }

    fn request(&self, id: u64) -> Result<Arc<ChangeRequest>, Refusal> {
        self.change_requests
            .get(&id)
            .cloned()
            .ok_or_else(|| Refusal::NotFound(format!("change request #{id} does not exist")))
    }

    fn pending(&self, id: u64) -> Result<Arc<ChangeRequest>, Refusal> {
        let request = self.request(id)?;
        if !request.state.is_pending() {
            return Err(Refusal::RequestClosed(format!(
                "change request #{id} is {}",
                request.state.as_str()
            )));
        }
        Ok(request)
    }

    pub(super) fn review_request(
        &mut self,
        id: u64,
        verdict: Verdict,
        text: String,
        meta: &Meta,
    ) -> Result<Vec<Change>, Refusal> {
        let role = author_role(meta)?;
        let before = if verdict == Verdict::Comment {
            self.request(id)?
        } else {
            self.pending(id)?
        };
        if verdict == Verdict::Comment && text.trim().is_empty() {
            return Err(Refusal::NotAllowed("a comment needs words".into()));
        }
        if verdict != Verdict::Comment {
            self.may_review(&before, role, &meta.actor)?;
        }
        let mut request = ChangeRequest::clone(&before);
        request.reviews.push(Review {
            by: meta.actor.clone(),
            role,
            verdict,
            text,
            at: meta.at.clone(),
            round: request.round,
        });
        request.updated_at.clone_from(&meta.at);
        let kind = match verdict {
            Verdict::Approve => ChangeKind::ChangeRequestApproved,
            Verdict::Reject => ChangeKind::ChangeRequestRejected,
            Verdict::Comment => ChangeKind::ChangeRequestCommented,
        };
        match verdict {
            Verdict::Reject => request.state = RequestState::Rejected,
            Verdict::Approve if request.approvals() >= request.approvals_required as usize => {
                request.state = RequestState::Approved;
            }
            _ => {}
        }
        let entry = logged(&request, kind, Some(&before));
        let due = request.state == RequestState::Approved
            && before.state == RequestState::Open
            && request.apply_at.as_ref().is_none_or(|at| *at <= meta.at);
        self.change_requests.insert(id, Arc::new(request));
        let mut changes = vec![self.stamp(entry, meta)];
        if due {
            // The approval stands even when the edit cannot apply: the
            // request then says why, and its author rebases it.
            match self.apply_request(id, meta) {
                Ok(applied) => changes.extend(applied),
                Err(refusal) => {
                    let held = self.hold(id, &refusal);
                    if let Some(approval) = changes.first_mut() {
                        approval.after = Some(to_value(&held));
                    }
                }
            }
        }
        Ok(changes)
    }

    /// Refuses a reviewer the policies of the request's environments do
    /// not allow, or one who already approved this round.
    pub fn may_review(
        &self,
        request: &ChangeRequest,
        role: Role,
        actor: &str,
    ) -> Result<(), Refusal> {
        let is_author = request.author == actor;
        for name in &request.environments {
            let policy = self.environments.get(name).map(|e| &e.policy);
            let allowed = policy.map_or_else(
                || setpoint_core::Policy::default().may_approve(role, is_author),
                |p| p.may_approve(role, is_author),
            );
            if !allowed {
                let approver = policy.map_or(Role::Editor, |p| p.approver_role);
                return Err(Refusal::NotAllowed(if is_author {
                    format!(
                        "{actor} wrote change request #{}: in {name:?} its author may not review it",
                        request.id
                    )
                } else {
                    format!(
                        "in {name:?} changes are reviewed by {} or above, not {}",
                        approver.as_str(),
                        role.as_str()
                    )
                }));
            }
        }
        let again = request
            .reviews
            .iter()
            .any(|r| r.by == actor && r.round == request.round && r.verdict == Verdict::Approve);
        if again {
            return Err(Refusal::NotAllowed(format!(
                "{actor} already approved change request #{}",
                request.id
            )));
        }
        Ok(())
    }

    /// Applies an approved request's edit with its author's role, all or
    /// nothing, and marks it applied.
    fn apply_request(&mut self, id: u64, meta: &Meta) -> Result<Vec<Change>, Refusal> {
        let before = self.request(id)?;
        let approvers: Vec<&str> = before
            .reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve && r.round == before.round)
            .map(|r| r.by.as_str())
            .collect();
        let mut said = format!("change request #{id}");
        if !approvers.is_empty() {
            said = format!("{said}, approved by {}", approvers.join(", "));
        }
        // A scheduled change is made by the server's scheduler, in the
        // author's name and with their role.
        let (actor, said) = match &before.apply_at {
            Some(_) => (
                "scheduler".to_string(),
                format!("scheduled by {}, {said}", before.author),
            ),
            None => (before.author.clone(), said),
        };
        let reason = if before.reason.is_empty() {
            said
        } else {
            format!("{} ({said})", before.reason)
        };
        let edit_meta = Meta {
            actor,
            reason,
            role: Some(before.author_role),
            approved: true,
            ..meta.clone()
        };
        let mut world = self.clone();
        let mut changes = Vec::new();
        for command in &before.edit {
            changes.extend(world.apply(command.clone(), &edit_meta)?);
        }
        *self = world;
        let mut request = ChangeRequest::clone(&before);
        request.state = RequestState::Applied;
        request.outcome = None;
        request.applied_revision = changes.last().map(|c| c.revision);
        request.updated_at.clone_from(&meta.at);
        let entry = logged(&request, ChangeKind::ChangeRequestApplied, Some(&before));
        self.change_requests.insert(id, Arc::new(request));
        changes.push(self.stamp(entry, &edit_meta));
        Ok(changes)
    }

    /// Records why an approved request did not apply, and returns it: it
    /// stays approved.
    fn hold(&mut self, id: u64, refusal: &Refusal) -> Option<Arc<ChangeRequest>> {
        let request = self.change_requests.get_mut(&id)?;
        Arc::make_mut(request).outcome = Some(outcome(refusal));
        Some(Arc::clone(request))
    }

    pub(super) fn withdraw_request(&mut self, id: u64, meta: &Meta) -> Result<Entry, Refusal> {
        let before = self.pending(id)?;
        if before.author != meta.actor && meta.role != Some(Role::Admin) {
            return Err(Refusal::NotAllowed(format!(
                "only its author or an admin withdraws change request #{id}"
            )));
        }
        let mut request = ChangeRequest::clone(&before);
        request.state = RequestState::Withdrawn;
        request.updated_at.clone_from(&meta.at);
        let entry = logged(&request, ChangeKind::ChangeRequestWithdrawn, Some(&before));
        self.change_requests.insert(id, Arc::new(request));
        Ok(entry)
    }

    pub(super) fn rebase_request(&mut self, id: u64, meta: &Meta) -> Result<Entry, Refusal> {
        let before = self.pending(id)?;
        if before.author != meta.actor {
            return Err(Refusal::NotAllowed(format!(
                "only its author rebases change request #{id}"
            )));
        }
        let current = self.services.get(&before.service).map_or(0, |r| r.revision);
        let edit: Vec<Command> = before
            .edit
            .iter()
            .map(|c| c.clone().rebased(current))
            .collect();
        let trial = self.trial(&edit, before.author_role, meta)?;
        let mut request = ChangeRequest::clone(&before);
        request.edit = edit;
        request.base = trial.base;
        request.diff = trial.diff;
        request.environments = trial.environments;
        request.approvals_required = trial.approvals_required;
        request.round += 1;
        request.state = if trial.approvals_required == 0 {
            RequestState::Approved
        } else {
            RequestState::Open
        };
        request.outcome = None;
        request.updated_at.clone_from(&meta.at);
        let entry = logged(&request, ChangeKind::ChangeRequestRebased, Some(&before));
        self.change_requests.insert(id, Arc::new(request));
        Ok(entry)
    }

    /// Applies an approved request whose time has come. From the server's
    /// timer (no role), a refusal closes it as failed and is logged; from
    /// a person retrying, it is theirs to see, and nothing changes.
    pub(super) fn apply_due(&mut self, id: u64, meta: &Meta) -> Result<Vec<Change>, Refusal> {
        let before = self.pending(id)?;
        if before.state != RequestState::Approved {
            return Err(Refusal::RequestClosed(format!(
                "change request #{id} has {} of {} approval(s)",
                before.approvals(),
                before.approvals_required
            )));
        }
        if let Some(at) = before.apply_at.as_ref().filter(|at| **at > meta.at) {
            return Err(Refusal::RequestClosed(format!(
                "change request #{id} is scheduled for {at}"
            )));
        }
        match self.apply_request(id, meta) {
            Ok(changes) => Ok(changes),
            Err(refusal) if meta.role.is_none() => {
                let mut request = ChangeRequest::clone(&before);
                request.state = RequestState::Failed;
                request.outcome = Some(outcome(&refusal));
                request.updated_at.clone_from(&meta.at);
                let entry = logged(&request, ChangeKind::ChangeRequestFailed, Some(&before));
                self.change_requests.insert(id, Arc::new(request));
                Ok(vec![self.stamp(entry, meta)])
            }
            Err(refusal) => Err(refusal),
        }
    }

    /// Approved requests whose time has come, for the server's timer.
    pub fn due_requests(&self, now: &str) -> Vec<u64> {
        self.change_requests
            .values()
            .filter(|r| {
                r.state == RequestState::Approved
                    && r.outcome.is_none()
                    && r.apply_at.as_ref().is_some_and(|at| at.as_str() <= now)
            })
            .map(|r| r.id)
            .collect()
    }
}

/// The role of whoever opens or reviews a request: requests are people's
/// (and tokens'), never the server's.
fn author_role(meta: &Meta) -> Result<Role, Refusal> {
    meta.role
        .ok_or_else(|| Refusal::NotAllowed("change requests are made by people and tokens".into()))
}

/// Why a request did not apply, for its `outcome`.
fn outcome(refusal: &Refusal) -> String {
    match refusal {
        Refusal::Conflict { base, current, .. } => format!(
            "stale: the service changed since revision {base} (now {current}); its author rebases it"
        ),
        Refusal::Invalid(violations) => {
            let problems: Vec<String> = violations.iter().map(ToString::to_string).collect();
            format!("invalid now: {}", problems.join("; "))
        }
        other => other.to_string(),
    }
}
