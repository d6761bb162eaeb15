//! The list of progressive rollouts.

use serde::{Deserialize, Serialize};
use setpoint_core::rollout::Rollout;

/// A progressive rollout and where it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutLine {
    /// The service.
    pub service: String,
    /// The environment.
    pub environment: String,
    /// The flag's key.
    pub flag: String,
    /// The plan and where it stands.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rollout: Rollout,
}

/// `GET /api/v1/rollouts`: by service, environment and flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutList {
    /// The rollouts the filter and the caller's scope let through.
    pub rollouts: Vec<RolloutLine>,
}
