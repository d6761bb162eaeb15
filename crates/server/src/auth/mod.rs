//! People and machines: roles, who may do what, credentials.
//!
//! Every request to the API names a [`Principal`] — a user with a session
//! cookie or a machine with a bearer token — and every handler asks it for a
//! [`Permission`] on a service (and environment) before acting, and passes
//! what it answers through [`Visible`], which cuts it to the principal's
//! scope. The console hides what a role cannot do, but this module is what
//! enforces it.

mod cache;
mod credentials;
mod extract;
pub(crate) mod rate_limit;
mod visibility;

use std::fmt::Write;

use serde::Serialize;

pub use cache::TokenCache;
pub use credentials::{hash_password, hex, new_secret, sha256_hex, verify_password};
pub use extract::{CSRF_HEADER, SESSION_COOKIE, cookie as extract_cookie, from_token};
pub use rate_limit::LoginLimiter;
pub use setpoint_core::Role;
pub use visibility::Visible;

use crate::ApiError;

/// What a request wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Read state, snapshots and history.
    Read,
    /// Read sealed snapshots: what readers may, and also the `agent` role,
    /// which may read nothing else.
    ReadSnapshot,
    /// Report what an agent wrote: the `agent` role's other power.
    ReportFleet,
    /// Change the targeting of existing flags.
    Rollout,
    /// Change config values; create, reshape or delete flags.
    Edit,
    /// Trip and close breakers.
    Operate,
    /// Change services, schemas, environments, users and tokens.
    Administer,
    /// Deliver alerts to the Alertmanager webhook: the `alert_source` role's
    /// one power, which no other role has.
    ReceiveAlerts,
}

impl Permission {
    fn least_role(self) -> Role {
        match self {
            Self::Read | Self::ReadSnapshot => Role::Viewer,
            Self::ReportFleet => Role::Agent,
            Self::Rollout => Role::Rollout,
            Self::Edit => Role::Editor,
            Self::Operate => Role::Operator,
            Self::Administer => Role::Admin,
            Self::ReceiveAlerts => Role::AlertSource,
        }
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// `user:<name>` or `token:<name>`: what the change log records.
    pub actor: String,
    /// The user name or token name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The services it may act on; `None` means all.
    pub services: Option<Vec<String>>,
    /// The one environment a token is limited to, if any.
    pub environment: Option<String>,
}

impl Principal {
    /// Whether it may do `permission` on `service` (or globally, for `None`)
    /// in `environment` (or across environments, for `None`).
    pub fn can(
        &self,
        permission: Permission,
        service: Option<&str>,
        environment: Option<&str>,
    ) -> bool {
        // Machine roles stand outside the ladder: an alert source only
        // delivers alerts, an agent only reads snapshots and reports, and
        // nothing else may pose as either.
        let machine_grants = match self.role {
            Role::AlertSource => permission == Permission::ReceiveAlerts,
            Role::Agent => matches!(
                permission,
                Permission::ReadSnapshot | Permission::ReportFleet
            ),
            _ => !matches!(
                permission,
                Permission::ReceiveAlerts | Permission::ReportFleet
            ),
        };
        if !machine_grants || (!self.role.is_machine() && self.role < permission.least_role()) {
            return false;
        }
        // An alert source's scopes do not refuse a delivery: they narrow
        // which breakers its alerts may move (see `http::breakers`).
        if permission == Permission::ReceiveAlerts {
            return true;
        }
        let service_ok = match (&self.services, service) {
            (None, _) => true,
            (Some(list), Some(service)) => list.iter().any(|s| s == service),
            // A scoped principal holds no global powers, except reading —
            // and what it reads is cut to its scope (`Visible`) — and an
            // agent's report, which names only services it may read.
            (Some(_), None) => matches!(
                permission,
                Permission::Read | Permission::ReadSnapshot | Permission::ReportFleet
            ),
        };
        let environment_ok = match (&self.environment, environment) {
            (None, _) => true,
            (Some(mine), Some(env)) => mine == env,
            (Some(_), None) => matches!(permission, Permission::Read | Permission::ReadSnapshot),
        };
        service_ok && environment_ok
    }

    /// [`Principal::can`], as a `403` with a message when not.
    pub fn require(
        &self,
        permission: Permission,
        service: Option<&str>,
        environment: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.can(permission, service, environment) {
            return Ok(());
        }
        let mut what = match permission {
            Permission::Read => "read".to_string(),
            Permission::ReadSnapshot => "read snapshots".to_string(),
            Permission::ReportFleet => "report as an agent (the agent role does)".to_string(),
            Permission::Rollout => "change flag rollouts".to_string(),
            Permission::Edit => "edit config and flags".to_string(),
            Permission::Operate => "operate breakers".to_string(),
            Permission::Administer => "administer".to_string(),
            Permission::ReceiveAlerts => "deliver alerts (the alert_source role does)".to_string(),
        };
        if let Some(service) = service {
            let _ = write!(what, " in {service:?}");
        }
        if let Some(environment) = environment {
            let _ = write!(what, " in environment {environment:?}");
        }
        Err(ApiError::Forbidden(format!(
            "{} ({}) may not {what}",
            self.actor,
            self.role.as_str()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, services: Option<&[&str]>, environment: Option<&str>) -> Principal {
        Principal {
            actor: "user:x".into(),
            name: "x".into(),
            role,
            services: services.map(|s| s.iter().map(|s| (*s).to_string()).collect()),
            environment: environment.map(str::to_owned),
        }
    }

    #[test]
    fn roles_include_the_ones_below() {
        let editor = principal(Role::Editor, None, None);
        assert!(editor.can(Permission::Read, Some("a"), None));
        assert!(editor.can(Permission::Rollout, Some("a"), None));
        assert!(editor.can(Permission::Edit, Some("a"), Some("prod")));
        assert!(!editor.can(Permission::Operate, Some("a"), None));
        assert!(!editor.can(Permission::Administer, None, None));
    }

    #[test]
    fn alert_sources_only_deliver_alerts() {
        let source = principal(Role::AlertSource, None, None);
        assert!(source.can(Permission::ReceiveAlerts, None, None));
        assert!(!source.can(Permission::Read, Some("a"), None));
        assert!(!source.can(Permission::Operate, Some("a"), None));
        let admin = principal(Role::Admin, None, None);
        assert!(!admin.can(Permission::ReceiveAlerts, None, None));
    }

    #[test]
    fn agents_only_read_snapshots_and_report() {
        let agent = principal(Role::Agent, None, Some("prod"));
        assert!(agent.can(Permission::ReadSnapshot, None, Some("prod")));
        assert!(agent.can(Permission::ReportFleet, None, Some("prod")));
        assert!(!agent.can(Permission::ReadSnapshot, None, Some("dev")));
        assert!(!agent.can(Permission::ReportFleet, None, Some("dev")));
        assert!(!agent.can(Permission::Read, None, Some("prod")));
        assert!(!agent.can(Permission::ReceiveAlerts, None, None));
        let admin = principal(Role::Admin, None, None);
        assert!(admin.can(Permission::ReadSnapshot, None, Some("prod")));
        assert!(!admin.can(Permission::ReportFleet, None, Some("prod")));
        let source = principal(Role::AlertSource, None, None);
        assert!(!source.can(Permission::ReadSnapshot, None, Some("prod")));
    }

    #[test]
    fn scopes_limit_services_and_environments() {
        let scoped = principal(Role::Admin, Some(&["checkout"]), None);
        assert!(scoped.can(Permission::Administer, Some("checkout"), None));
        assert!(!scoped.can(Permission::Edit, Some("search"), None));
        assert!(
            !scoped.can(Permission::Administer, None, None),
            "no global powers"
        );
        assert!(scoped.can(Permission::Read, None, None));

        let staging_only = principal(Role::Editor, None, Some("staging"));
        assert!(staging_only.can(Permission::Edit, Some("a"), Some("staging")));
        assert!(!staging_only.can(Permission::Edit, Some("a"), Some("prod")));
        assert!(
            !staging_only.can(Permission::Edit, Some("a"), None),
            "cross-environment edits are out"
        );
    }
}
