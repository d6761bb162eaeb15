//! Roles: what a person or machine may change. Here, not in the server, so
//! that the console decides which controls to show by the same ordering the
//! server enforces.

use serde::{Deserialize, Serialize};

/// Roles, from least to most trusted; each includes those below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Only delivers alerts to the Alertmanager webhook: a machine role,
    /// outside the ladder below (it cannot even read).
    AlertSource,
    /// Follows one environment's snapshot and reports what it wrote: the
    /// `setpoint agent`'s machine role, also outside the ladder.
    Agent,
    /// Reads everything (auditors, services reading snapshots).
    Viewer,
    /// Also changes flag targeting (product managers).
    Rollout,
    /// Also changes config values and whole flags.
    Editor,
    /// Also trips and closes breakers.
    Operator,
    /// Also services, schemas, environments, users and tokens.
    Admin,
}

impl Role {
    /// Every role, least trusted first.
    pub const ALL: [Self; 7] = [
        Self::AlertSource,
        Self::Agent,
        Self::Viewer,
        Self::Rollout,
        Self::Editor,
        Self::Operator,
        Self::Admin,
    ];

    /// Whether only machines hold it (tokens, never people).
    pub fn is_machine(self) -> bool {
        matches!(self, Self::AlertSource | Self::Agent)
    }

    /// The name used in the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlertSource => "alert_source",
            Self::Agent => "agent",
            Self::Viewer => "viewer",
            Self::Rollout => "rollout",
            Self::Editor => "editor",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::Role;

    #[test]
    fn names_round_trip_and_order_is_trust() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).expect("serializes"),
                role.as_str()
            );
        }
        assert!(
            Role::AlertSource < Role::Viewer
                && Role::Agent < Role::Viewer
                && Role::Viewer < Role::Rollout
                && Role::Operator < Role::Admin
        );
        assert_eq!(Role::parse("root"), None);
    }
}
