//! Environment policies: what a write must meet before it changes what an
//! environment serves — a reason, other people's approval, or the end of a
//! freeze.
//!
//! The rules are pure: the server asks [`Policy::admit`] with the writer's
//! role and the time, and [`touches`] which environments a write changes.
//! A policy guards what an environment *serves*, so a write that changes
//! only, say, a description passes every policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{
    Breaker, FieldPath, Role, ServiceDoc, ServiceSnapshot, Violation, ViolationKind,
    time::{format_timestamp, parse_timestamp},
};

/// The most freeze windows one environment keeps.
pub const MAX_FREEZES: usize = 64;
/// The most approvals a policy may ask for.
pub const MAX_APPROVALS: u32 = 5;

/// What writes to one environment must meet. The default asks nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Every write must say why.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reason_required: bool,
    /// How many people must approve a write by someone below admin before
    /// it applies; 0 lets writes apply directly.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub approvals_required: u32,
    /// The least role that may approve (editor unless set).
    #[serde(default = "default_approver", skip_serializing_if = "is_editor")]
    pub approver_role: Role,
    /// Whether a change's author counts as one of its approvers. Four-eyes
    /// review means they do not, the default.
    #[serde(default, skip_serializing_if = "is_false")]
    pub author_may_approve: bool,
    /// Windows in which only admins who give a reason may write.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub frozen: Vec<Freeze>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            reason_required: false,
            approvals_required: 0,
            approver_role: default_approver(),
            author_may_approve: false,
            frozen: Vec::new(),
        }
    }
}

/// A window in which an environment is frozen: a release, a holiday.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freeze {
    /// When it starts (RFC 3339; stored in UTC).
    pub from: String,
    /// When it ends (RFC 3339; stored in UTC).
    pub until: String,
    /// Why, shown to whoever is refused.
    #[serde(default)]
    pub reason: String,
}

/// Why a write may not apply as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gate {
    /// The environment is frozen and the writer is not an admin giving a
    /// reason.
    #[error(
        "environment {environment:?} is frozen until {until}{}: only admins giving a reason may change it",
        if reason.is_empty() { String::new() } else { format!(" ({reason})") }
    )]
    Frozen {
        /// The environment.
        environment: String,
        /// When the freeze ends.
        until: String,
        /// Why it is frozen.
        reason: String,
    },
    /// The environment asks every write for a reason.
    #[error("environment {environment:?} requires a reason for every change")]
    ReasonRequired {
        /// The environment.
        environment: String,
    },
    /// The write must be approved first.
    #[error(
        "environment {environment:?} requires {required} approval(s) of changes by non-admins: submit it for review"
    )]
    ApprovalRequired {
        /// The environment.
        environment: String,
        /// How many approvals.
        required: u32,
    },
}

impl Gate {
    /// The stable machine code of the gate.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Frozen { .. } => "environment_frozen",
            Self::ReasonRequired { .. } => "reason_required",
            Self::ApprovalRequired { .. } => "approval_required",
        }
    }
}

/// Who is writing, as far as a policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer {
    /// Their role.
    pub role: Role,
    /// Whether they gave a reason.
    pub gave_reason: bool,
    /// Whether the write carries the approvals the policy asks for (an
    /// approved change request being applied).
    pub approved: bool,
}

impl Policy {
    /// Whether it asks nothing of anyone.
    pub fn is_open(&self) -> bool {
        !self.reason_required && self.approvals_required == 0 && self.frozen.is_empty()
    }

    /// Checks a policy as an admin submitted it, and returns it with its
    /// windows in UTC and in order, ended windows dropped (`now` in
    /// milliseconds since the Unix epoch).
    pub fn normalized(mut self, now: i64) -> Result<Self, Vec<Violation>> {
        let mut violations = Vec::new();
        let root = FieldPath::root();
        let invalid = |path: FieldPath, message: String| {
            Violation::new(path, ViolationKind::InvalidPolicy(message))
        };
        if self.approvals_required > MAX_APPROVALS {
            violations.push(invalid(
                root.key("approvals_required"),
                format!("at most {MAX_APPROVALS} approvals"),
            ));
        }
        if self.approver_role.is_machine() || self.approver_role < Role::Rollout {
            violations.push(invalid(
                root.key("approver_role"),
                format!(
                    "{} cannot approve changes: use rollout, editor, operator or admin",
                    self.approver_role.as_str()
                ),
            ));
        }
        if self.frozen.len() > MAX_FREEZES {
            violations.push(invalid(
                root.key("frozen"),
                format!("at most {MAX_FREEZES} freeze windows"),
            ));
        }
        let mut kept = Vec::new();
        for (i, window) in self.frozen.iter().enumerate() {
            let path = root.key("frozen").index(i);
            let from = parse_timestamp(&window.from)
                .map_err(|message| violations.push(invalid(path.key("from"), message)));
            let until = parse_timestamp(&window.until)
                .map_err(|message| violations.push(invalid(path.key("until"), message)));
            let (Ok(from), Ok(until)) = (from, until) else {
                continue;
            };
            if from >= until {
                violations.push(invalid(
                    path.key("until"),
                    "a freeze must end after it starts".into(),
                ));
            } else if window.reason.chars().count() > 1000 {
                violations.push(invalid(
                    path.key("reason"),
                    "a freeze's reason is at most 1,000 characters".into(),
                ));
            } else if until > now {
                kept.push(Freeze {
                    from: format_timestamp(from),
                    until: format_timestamp(until),
                    reason: window.reason.trim().to_string(),
                });
            }
        }
        if !violations.is_empty() {
            return Err(violations);
        }
        kept.sort_by(|a, b| a.from.cmp(&b.from));
        self.frozen = kept;
        Ok(self)
    }

    /// The freeze in force at `now` (milliseconds since the Unix epoch).
    pub fn freeze_at(&self, now: i64) -> Option<&Freeze> {
        let now = format_timestamp(now);
        // Stored windows are fixed-width UTC, so text order is time order.
        self.frozen
            .iter()
            .find(|w| w.from.as_str() <= now.as_str() && now.as_str() < w.until.as_str())
    }

    /// Whether `writer` may change `environment` now, or what stands in
    /// the way. A freeze comes first: not even an approved change applies
    /// during one, unless an admin applies it with a reason.
    pub fn admit(&self, environment: &str, writer: Writer, now: i64) -> Result<(), Gate> {
        if let Some(freeze) = self.freeze_at(now)
            && !(writer.role == Role::Admin && writer.gave_reason)
        {
            return Err(Gate::Frozen {
                environment: environment.to_string(),
                until: freeze.until.clone(),
                reason: freeze.reason.clone(),
            });
        }
        if self.reason_required && !writer.gave_reason {
            return Err(Gate::ReasonRequired {
                environment: environment.to_string(),
            });
        }
        if self.approvals_required > 0 && writer.role < Role::Admin && !writer.approved {
            return Err(Gate::ApprovalRequired {
                environment: environment.to_string(),
                required: self.approvals_required,
            });
        }
        Ok(())
    }

    /// Whether someone with `role` may approve a change, being its author
    /// or not. Whether they may make the change itself is the caller's to
    /// check: approving is never a way around one's own permissions.
    pub fn may_approve(&self, role: Role, is_author: bool) -> bool {
        !role.is_machine() && role >= self.approver_role && (!is_author || self.author_may_approve)
    }
}

/// Whether going from `before` to `after` (either absent: created or
/// removed) changes what environment `env` serves: its resolved config, its
/// flags, which breakers exist there and the rules that trip them.
pub fn touches(before: Option<&ServiceDoc>, after: Option<&ServiceDoc>, env: &str) -> bool {
    served(before, env) != served(after, env)
}

/// What `env` serves of a service, with its breakers closed, and the
/// breakers that exist there.
fn served<'d>(
    doc: Option<&'d ServiceDoc>,
    env: &str,
) -> Option<(ServiceSnapshot, Vec<(&'d String, &'d Breaker)>)> {
    let doc = doc?;
    let breakers = doc
        .breakers
        .iter()
        .filter(|(_, b)| b.exists_in(env))
        .collect();
    Some((doc.snapshot(env, &BTreeMap::new(), None), breakers))
}

fn default_approver() -> Role {
    Role::Editor
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes a reference"
)]
fn is_false(value: &bool) -> bool {
    !*value
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes a reference"
)]
fn is_zero(value: &u32) -> bool {
    *value == 0
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes a reference"
)]
fn is_editor(role: &Role) -> bool {
    *role == Role::Editor
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: i64 = 1_790_000_000_000;

    fn policy(json: serde_json::Value) -> Policy {
        serde_json::from_value(json).expect("valid")
    }

    fn writer(role: Role, gave_reason: bool) -> Writer {
        Writer {
            role,
            gave_reason,
            approved: false,
        }
    }

    #[test]
    fn an_open_policy_admits_anyone() {
        let open = Policy::default();
        assert!(open.is_open());
        assert_eq!(
            open.admit("prod", writer(Role::Rollout, false), NOON),
            Ok(())
        );
        assert_eq!(
            serde_json::to_value(&open).expect("valid"),
            serde_json::json!({})
        );
    }

    #[test]
    fn a_reason_is_asked_of_everyone_admins_included() {
        let p = policy(serde_json::json!({"reason_required": true}));
        let refused = p.admit("prod", writer(Role::Admin, false), NOON);
        assert_eq!(refused.expect_err("refused").code(), "reason_required");
        assert_eq!(p.admit("prod", writer(Role::Editor, true), NOON), Ok(()));
    }

    #[test]
    fn approvals_hold_writes_below_admin_until_approved() {
        let p = policy(serde_json::json!({"approvals_required": 2}));
        let gate = p
            .admit("prod", writer(Role::Editor, true), NOON)
            .expect_err("refused");
        assert_eq!(
            gate,
            Gate::ApprovalRequired {
                environment: "prod".into(),
                required: 2
            }
        );
        assert_eq!(p.admit("prod", writer(Role::Admin, false), NOON), Ok(()));
        let approved = Writer {
            approved: true,
            ..writer(Role::Editor, true)
        };
        assert_eq!(p.admit("prod", approved, NOON), Ok(()));
    }

    #[test]
    fn the_author_approves_only_where_the_policy_says_so() {
        let p = policy(serde_json::json!({"approvals_required": 1, "approver_role": "operator"}));
        assert!(
            !p.may_approve(Role::Editor, false),
            "below the approver role"
        );
        assert!(p.may_approve(Role::Operator, false));
        assert!(
            !p.may_approve(Role::Admin, true),
            "four eyes: not the author"
        );
        assert!(!p.may_approve(Role::Agent, false));
        let lenient = Policy {
            author_may_approve: true,
            ..p
        };
        assert!(lenient.may_approve(Role::Admin, true));
    }

    #[test]
    fn a_freeze_admits_only_admins_with_a_reason() {
        let p = policy(serde_json::json!({"frozen": [{
            "from": format_timestamp(NOON - 1000),
            "until": format_timestamp(NOON + 1000),
            "reason": "release 4.2",
        }]}));
        let gate = p
            .admit("prod", writer(Role::Operator, true), NOON)
            .expect_err("refused");
        assert_eq!(gate.code(), "environment_frozen");
        assert!(gate.to_string().contains("release 4.2"), "{gate}");
        let approved = Writer {
            approved: true,
            ..writer(Role::Editor, true)
        };
        assert!(
            p.admit("prod", approved, NOON).is_err(),
            "approval is no way around a freeze"
        );
        assert!(p.admit("prod", writer(Role::Admin, false), NOON).is_err());
        assert_eq!(p.admit("prod", writer(Role::Admin, true), NOON), Ok(()));
        // The window is half-open: it ends at `until`.
        assert_eq!(
            p.admit("prod", writer(Role::Editor, false), NOON + 1000),
            Ok(())
        );
        assert!(
            p.admit("prod", writer(Role::Editor, false), NOON - 1000)
                .is_err()
        );
    }

    #[test]
    fn normalizing_checks_windows_and_drops_ended_ones() {
        let p = policy(serde_json::json!({"frozen": [
            {"from": "2026-12-24T00:00:00+01:00", "until": "2026-12-27T00:00:00+01:00"},
            {"from": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"},
        ]}));
        let now = parse_timestamp("2026-12-01T00:00:00Z").expect("valid");
        let normal = p.normalized(now).expect("valid");
        assert_eq!(normal.frozen.len(), 1);
        assert_eq!(normal.frozen[0].from, "2026-12-23T23:00:00.000Z");

        let bad = policy(serde_json::json!({
            "approvals_required": 9,
            "approver_role": "viewer",
            "frozen": [
                {"from": "tomorrow", "until": "2026-12-27T00:00:00Z"},
                {"from": "2026-12-27T00:00:00Z", "until": "2026-12-26T00:00:00Z"},
            ],
        }));
        let paths: Vec<String> = bad
            .normalized(now)
            .expect_err("refused")
            .iter()
            .map(|v| v.path.to_string())
            .collect();
        assert_eq!(
            paths,
            [
                "approvals_required",
                "approver_role",
                "frozen[0].from",
                "frozen[1].until"
            ]
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let parsed = serde_json::from_value::<Policy>(serde_json::json!({"aprovals": 1}));
        assert!(parsed.is_err());
    }

    #[test]
    fn a_write_touches_the_environments_whose_serving_changes() {
        let doc: ServiceDoc = serde_json::from_value(serde_json::json!({
            "service": "checkout",
            "schema": {"rps": {"type": "int", "default": 10}},
            "values": {"prod": {"rps": 20}},
        }))
        .expect("valid");
        let mut edited = doc.clone();
        edited
            .values
            .get_mut("prod")
            .expect("valid")
            .insert("rps".into(), 30.into());
        assert!(touches(Some(&doc), Some(&edited), "prod"));
        assert!(!touches(Some(&doc), Some(&edited), "staging"));
        let mut described = doc.clone();
        described.description = "only words".into();
        assert!(!touches(Some(&doc), Some(&described), "prod"));
        assert!(
            touches(None, Some(&doc), "staging"),
            "a new service is served"
        );
        assert!(touches(Some(&doc), None, "prod"));
    }
}
