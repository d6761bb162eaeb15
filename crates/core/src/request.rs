//! Change requests: an edit of one service held for other people's review,
//! for a time, or both — the record both the server and the console read.
//! The rules that move a request live with the server's world; this is
//! the shape of what they move.

use serde::{Deserialize, Serialize};

use crate::{DiffEntry, Role};

/// A held edit. `Edit` is the writer's command: the server keeps its own
/// commands; a reader that only shows requests (the console) reads them as
/// JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest<Edit> {
    /// The revision that opened it.
    pub id: u64,
    /// The service it edits.
    pub service: String,
    /// The environments the edit changes, when it was opened or last
    /// rebased.
    pub environments: Vec<String>,
    /// Who asked for it (`user:…`, `token:…`).
    pub author: String,
    /// Their role when they asked: the edit applies with it.
    pub author_role: Role,
    /// Their reason.
    pub reason: String,
    /// The edit, exactly as it would have been written.
    pub edit: Vec<Edit>,
    /// The service revision the edit is based on (0 for a creation).
    pub base: u64,
    /// What the edit changes in the service's document.
    pub diff: Vec<DiffEntry>,
    /// Approvals it needs, from the policies of its environments.
    pub approvals_required: u32,
    /// Where it stands.
    pub state: RequestState,
    /// Approvals, rejections and comments, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reviews: Vec<Review>,
    /// How many times it was rebased: approvals count only in the round
    /// they were given in.
    #[serde(default)]
    pub round: u32,
    /// When to apply it (RFC 3339), once approved; `None`: at the last
    /// approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply_at: Option<String>,
    /// When it was opened.
    pub opened_at: String,
    /// When it last moved.
    pub updated_at: String,
    /// Why it has not applied (stale, frozen, invalid), or why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The last revision its edit logged, once applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_revision: Option<u64>,
}

/// Where a change request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Awaiting approvals.
    Open,
    /// Approved (or needing none), not applied yet: waiting for its time,
    /// or refused when it tried (see `outcome`).
    Approved,
    /// Applied.
    Applied,
    /// Rejected by a reviewer.
    Rejected,
    /// Withdrawn by its author.
    Withdrawn,
    /// Its time came and it could not apply.
    Failed,
}

impl RequestState {
    /// The name used in filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Approved => "approved",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
            Self::Failed => "failed",
        }
    }

    /// Whether it can still apply.
    pub fn is_pending(self) -> bool {
        matches!(self, Self::Open | Self::Approved)
    }
}

/// One reviewer's word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Who.
    pub by: String,
    /// Their role then.
    pub role: Role,
    /// What they said.
    pub verdict: Verdict,
    /// In their words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// When.
    pub at: String,
    /// The request's round then.
    #[serde(default)]
    pub round: u32,
}

/// What a reviewer says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Reject: the request closes.
    Reject,
    /// Only comment.
    Comment,
}

impl<Edit> ChangeRequest<Edit> {
    /// Approvals given in the current round.
    pub fn approvals(&self) -> usize {
        self.reviews
            .iter()
            .filter(|r| r.verdict == Verdict::Approve && r.round == self.round)
            .count()
    }
}
