//! The lists of services and environments.

use serde::{Deserialize, Serialize};
use setpoint_core::{ManagedBy, Policy, Tombstone};

/// A line of `GET /api/v1/services`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceSummary {
    /// Its name.
    pub service: String,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// Teams or people responsible.
    #[serde(default)]
    pub owners: Vec<String>,
    /// The revision of its last change.
    pub revision: u64,
    /// How many schema keys.
    pub keys: usize,
    /// How many flags.
    pub flags: usize,
    /// How many breakers.
    pub breakers: usize,
    /// The environments where it has anything of its own: an override, a
    /// targeted flag or a breaker. It serves its defaults everywhere.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Set while it is deleted and not yet reclaimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub tombstone: Option<Tombstone>,
    /// The files it is managed by (`setpoint apply`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub managed_by: Option<ManagedBy>,
    /// Whether it was changed by other means since its files were last
    /// applied: the next apply is a conflict unless forced.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub drifts: bool,
}

/// A line of `GET /api/v1/environments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvironmentView {
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// The revision that created it.
    pub created_revision: u64,
    /// The revision its snapshot is at.
    #[serde(default)]
    pub snapshot_revision: Option<u64>,
    /// What writes to it must meet (`{}`: nothing).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub policy: Policy,
}
