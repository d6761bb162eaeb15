//! What writes and checks answer, beyond the change they made.

use serde::{Deserialize, Serialize};
use setpoint_core::{Change, DiffEntry};

/// A valid document's verdict (`POST /api/v1/validate`); an invalid one is
/// a `422` with its problems.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// Always true: invalid documents come back as an error.
    pub valid: bool,
    /// The document's service name.
    pub service: String,
}

/// What a rollback did, or would do (`POST …/rollback`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RollbackPreview {
    /// Whether nothing was written.
    pub dry_run: bool,
    /// The revision written (absent for a dry run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// The service revision the diff was computed from: what a preview's
    /// confirmation sends as its base, so a change landing in between is a
    /// `409` rather than silently rolled over.
    pub base_revision: u64,
    /// What it changes, field by field.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub diff: Vec<DiffEntry>,
}

/// What an import did, or would do (`POST /api/v1/import`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Imported {
    /// One change per created environment and created or replaced service
    /// (none for a dry run).
    pub changes: Vec<Change>,
    /// What it changes.
    pub plan: ImportPlan,
}

/// What an import changes, judged against the state it was checked at.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportPlan {
    /// Environments it creates.
    pub environments: Vec<String>,
    /// Services it creates.
    pub created: Vec<String>,
    /// Services it replaces, with what changes in each.
    pub replaced: Vec<ReplacedService>,
    /// Services already as the document has them.
    pub unchanged: usize,
}

/// A service an import replaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplacedService {
    /// Its name.
    pub service: String,
    /// Field by field, as the change log's diffs.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub diff: Vec<DiffEntry>,
}
