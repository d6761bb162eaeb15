//! The bodies writes take. Every write names the revision it was based on
//! (here or as `If-Match`) and may say why; unknown fields are refused, so
//! a misspelt one is a `400`, not silently ignored.

use serde::{Deserialize, Serialize};
use setpoint_core::{Flag, Role, Values};

/// `PATCH /api/v1/services/{service}/values/{environment}`: keys set and
/// overrides dropped, in one change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ValuesPatch {
    /// Keys to set, with their new values.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub set: Values,
    /// Keys whose override is dropped: the default applies again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_keys: Vec<String>,
    /// The service revision the edit was based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<u64>,
    /// Why, for the change log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `PUT /api/v1/services/{service}/flags/{flag}`: the whole flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlagWrite {
    /// The flag as it is to be.
    pub flag: Flag,
    /// The service revision the edit was based on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_revision: Option<u64>,
    /// Why, for the change log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/session`: logging in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// `PATCH /api/v1/users/{username}`: what an admin changes of a user; what
/// is absent stays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// A new role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The services the role applies to: a list, or `null` for every
    /// service; absent keeps them.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub services: Option<Option<Vec<String>>>,
    /// A new password (a reset): the user logs in with it next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Tells "absent" (`None`) from "null" (`Some(None)`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// Tripping or closing a breaker by hand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BreakerStep {
    /// Why: required, it is what the next operator reads.
    pub reason: String,
    /// Closing only: close even though matching alerts still fire.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::UserChange;

    #[test]
    fn a_user_change_tells_absent_services_from_every_service() {
        let keep: UserChange = serde_json::from_value(json!({"role": "viewer"})).expect("reads");
        assert_eq!(keep.services, None);
        let all: UserChange = serde_json::from_value(json!({"services": null})).expect("reads");
        assert_eq!(all.services, Some(None));
        for change in [keep, all] {
            let again: UserChange =
                serde_json::from_value(serde_json::to_value(&change).expect("writes"))
                    .expect("reads back");
            assert_eq!(
                again, change,
                "what the console sends is what the server reads"
            );
        }
    }
}
