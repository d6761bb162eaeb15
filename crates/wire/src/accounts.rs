//! Who the caller is, and the roster admins manage.

use serde::{Deserialize, Serialize};
use setpoint_core::Role;

/// Who the caller is and what it may do (`GET /api/v1/me`, and the answer
/// to logging in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// What the change log records: `user:<name>` or `token:<name>`.
    pub actor: String,
    /// The user's or token's name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The services the role applies to; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// The one environment it is limited to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// For sessions: the value writes must send in `x-csrf-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

impl Me {
    /// Whether the role is at least `role` for `service` — the server's
    /// own ordering, so the console shows the controls the server allows.
    pub fn may(&self, role: Role, service: &str) -> bool {
        self.role >= role
            && self
                .services
                .as_ref()
                .is_none_or(|list| list.iter().any(|s| s == service))
    }
}

/// A person who logs in (`GET /api/v1/users`, admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserView {
    /// The name they log in with.
    pub username: String,
    /// Their role.
    pub role: Role,
    /// The services the role applies to; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// When the account was made (RFC 3339).
    pub created_at: String,
}

/// A machine's credential (`GET /api/v1/tokens`, admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenView {
    /// Its id: the part of the bearer string after `sp_`, before the secret.
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The services it may act on; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// The one environment it may act in, if limited to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Only in the answer that created it: the bearer string, shown once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}
