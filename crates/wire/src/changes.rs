//! Reading the change log: `GET /api/v1/changes` and a service's history.

use serde::{Deserialize, Serialize};
use setpoint_core::{Change, ChangeKind};

/// What to read of the log, newest first, a page at a time. Every field
/// narrows; none given reads the latest changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct ChangeFilter {
    /// Only this service's changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The item within the service: a flag key or a breaker name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// Only this environment's (and those without one, like schema
    /// changes, which affect every environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Only this actor's: `user:<name>`, `token:<name>`, `setpoint`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Only this kind of change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ChangeKind>,
    /// RFC 3339: changes at or after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339: changes before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// From a previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, 1–500 (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ChangeFilter {
    /// The latest `limit` changes, of whatever kind.
    pub const fn latest(limit: u32) -> Self {
        Self {
            service: None,
            item: None,
            environment: None,
            actor: None,
            kind: None,
            since: None,
            until: None,
            cursor: None,
            limit: Some(limit),
        }
    }
}

/// One page of changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChangePage {
    /// Newest first.
    pub changes: Vec<Change>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
