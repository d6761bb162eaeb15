//! The breaker board.

use serde::{Deserialize, Serialize};
use setpoint_core::{
    BreakerState,
    breaker::{Alert, Cause},
};

/// One breaker on an environment's board
/// (`GET /api/v1/environments/{env}/breakers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakerView {
    /// The service it belongs to.
    pub service: String,
    /// Its name.
    pub breaker: String,
    /// What opening it does.
    #[serde(default)]
    pub description: String,
    /// Closed, open or awaiting close.
    pub state: BreakerState,
    /// When it entered its state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// What opened it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Matching alerts still firing.
    #[serde(default)]
    pub firing: Vec<Alert>,
    /// Under `auto_after`: when it closes by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_at: Option<String>,
    /// `manual` or `auto_after <delay>`.
    pub close_policy: String,
    /// The alert matchers that trip it.
    #[serde(default)]
    pub trips_on: Vec<Vec<String>>,
    /// Trips within the flap window up to now.
    pub trips_in_window: usize,
    /// The flap window, e.g. `1h`.
    pub flap_window: String,
    /// Whether it tripped more often than its threshold within the window.
    pub flapping: bool,
    /// Recent trip times, oldest first.
    #[serde(default)]
    pub trips: Vec<String>,
}

/// An alert that matched no breaker, kept so that someone notices
/// (`GET /api/v1/alerts/unrouted`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UnroutedAlert {
    /// The alert as last delivered.
    pub alert: Alert,
    /// The Alertmanager receiver that sent it.
    pub receiver: String,
    /// When it was last delivered (RFC 3339).
    pub received_at: String,
}
