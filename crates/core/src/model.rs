//! The domain model, as it travels in JSON: service documents (schema,
//! values, flags, breakers), breaker states, changes.
//!
//! Every struct refuses unknown fields so that a typo in a document is an
//! error rather than a setting silently ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Values keyed by schema key: the overrides of one environment.
pub type Values = BTreeMap<String, Value>;

/// The unit a team owns: its schema, per-environment values, flags and
/// breakers. This is the format of `setpoint validate` files and exports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceDoc {
    /// Service name, e.g. `checkout`.
    pub service: String,
    /// What the service is, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Teams or people who own it.
    #[serde(default)]
    pub owners: Vec<String>,
    /// The typed keys, by key.
    #[serde(default)]
    pub schema: BTreeMap<String, KeySpec>,
    /// Per-environment overrides: environment → key → value.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = BTreeMap<String, BTreeMap<String, serde_json::Value>>))]
    pub values: BTreeMap<String, Values>,
    /// Feature flags, by key.
    #[serde(default)]
    pub flags: BTreeMap<String, Flag>,
    /// Circuit breakers, by name.
    #[serde(default)]
    pub breakers: BTreeMap<String, Breaker>,
}

/// The type of a schema key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyKind {
    /// `true` / `false`.
    Bool,
    /// A 64-bit signed integer, optionally bounded by `min` / `max`.
    Int,
    /// A finite number, optionally bounded by `min` / `max`.
    Float,
    /// Text, optionally constrained by length, `pattern` or `enum`.
    String,
    /// A duration written like `250ms`, `30s`, `1h30m`, `7d`.
    Duration,
    /// A number from 0 to 100.
    Percent,
    /// A map of names to non-negative integers that sum to 100.
    Weights,
    /// Any JSON, optionally checked against a JSON Schema subset.
    Json,
    /// A pointer `{url, sha256, version}` to large data kept elsewhere.
    Ref,
}

impl KeyKind {
    /// Every kind, in documentation order.
    pub const ALL: [Self; 9] = [
        Self::Bool,
        Self::Int,
        Self::Float,
        Self::String,
        Self::Duration,
        Self::Percent,
        Self::Weights,
        Self::Json,
        Self::Ref,
    ];

    /// The name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int => "int",
            Self::Float => "float",
            Self::String => "string",
            Self::Duration => "duration",
            Self::Percent => "percent",
            Self::Weights => "weights",
            Self::Json => "json",
            Self::Ref => "ref",
        }
    }
}

/// One typed key of a service's schema.
///
/// The constraint fields are flat (as people write them:
/// `{type: int, min: 1, max: 100000, default: 500}`); validation reports a
/// constraint that does not apply to the key's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeySpec {
    /// The key's type.
    #[serde(rename = "type")]
    pub kind: KeyKind,
    /// The value used when an environment sets none: a key is never empty.
    pub default: Value,
    /// What the key controls, for the people who change it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Lower bound: a number for `int`/`float`, a duration for `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    /// Upper bound: a number for `int`/`float`, a duration for `duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Shortest allowed `string`, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// Longest allowed `string`, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// A regular expression a `string` must match as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The only values a `string` may take.
    #[serde(rename = "enum", default, skip_serializing_if = "Option::is_none")]
    pub choices: Option<Vec<String>>,
    /// The exact names a `weights` map must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// A JSON Schema (subset) a `json` value must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl KeySpec {
    /// A key of `kind` with `default` and no constraints.
    pub fn new(kind: KeyKind, default: Value) -> Self {
        Self {
            kind,
            default,
            description: String::new(),
            min: None,
            max: None,
            min_length: None,
            max_length: None,
            pattern: None,
            choices: None,
            keys: None,
            schema: None,
        }
    }
}

/// A feature flag: typed variants and per-environment targeting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Flag {
    /// What the flag gates, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Variant name → value. All values have the same JSON type.
    pub variants: BTreeMap<String, Value>,
    /// The variant served where the flag is disabled.
    pub off: String,
    /// Hash salt for percentage splits; defaults to the flag key. Changing
    /// it reshuffles every user, so it is set only on purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// Targeting per environment. An environment not listed serves `off`.
    #[serde(default)]
    pub environments: BTreeMap<String, FlagEnvironment>,
}

/// A flag's targeting in one environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlagEnvironment {
    /// Whether targeting runs; when false the flag serves its `off` variant.
    pub enabled: bool,
    /// Rules checked in order; the first whose conditions all hold serves.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What is served when no rule matches.
    pub default: Serve,
}

/// A targeting rule: conditions that must all hold, and what to serve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// A name for people and for evaluation results.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Conditions on context attributes; all must hold. Empty matches all.
    #[serde(default)]
    pub when: Vec<Condition>,
    /// What the rule serves.
    pub serve: Serve,
}

/// What a rule or a default serves: one variant, or a percentage split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Serve {
    /// Always this variant.
    Variant(String),
    /// A sticky percentage split over variants.
    Split(Split),
}

/// A sticky percentage split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Split {
    /// Variants and weights, in bucket order; weights sum to 100.
    pub weights: Vec<Weighted>,
    /// The context attribute hashed for bucketing (default `targetingKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket_by: Option<String>,
}

impl Split {
    /// The attribute whose value places a user in a bucket.
    pub fn bucket_attribute(&self) -> &str {
        self.bucket_by.as_deref().unwrap_or(TARGETING_KEY)
    }
}

/// The default bucketing attribute, as OpenFeature names it.
pub const TARGETING_KEY: &str = "targetingKey";

/// One variant's share of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Weighted {
    /// Variant name.
    pub variant: String,
    /// Share, in percent.
    pub weight: u32,
}

/// A condition on one context attribute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Condition {
    /// The context attribute, e.g. `country`.
    pub attribute: String,
    /// The comparison.
    pub op: Op,
    /// The operand of single-valued operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The operands of `in` / `not_in`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

/// Comparison operators of rule conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Op {
    /// Equal (numbers compare by value: `1` equals `1.0`).
    Eq,
    /// Not equal.
    Neq,
    /// Equal to one of `values`.
    In,
    /// Equal to none of `values`.
    NotIn,
    /// String prefix.
    StartsWith,
    /// String suffix.
    EndsWith,
    /// Substring.
    Contains,
    /// Regular expression match anywhere in the string.
    Matches,
    /// Numeric `<`.
    Lt,
    /// Numeric `<=`.
    Le,
    /// Numeric `>`.
    Gt,
    /// Numeric `>=`.
    Ge,
    /// Semantic version `<`.
    SemverLt,
    /// Semantic version `<=`.
    SemverLe,
    /// Semantic version `>`.
    SemverGt,
    /// Semantic version `>=`.
    SemverGe,
    /// Timestamp strictly before (RFC 3339, or seconds since the epoch).
    Before,
    /// Timestamp strictly after.
    After,
}

impl Op {
    /// Every operator, in documentation order.
    pub const ALL: [Self; 18] = [
        Self::Eq,
        Self::Neq,
        Self::In,
        Self::NotIn,
        Self::StartsWith,
        Self::EndsWith,
        Self::Contains,
        Self::Matches,
        Self::Lt,
        Self::Le,
        Self::Gt,
        Self::Ge,
        Self::SemverLt,
        Self::SemverLe,
        Self::SemverGt,
        Self::SemverGe,
        Self::Before,
        Self::After,
    ];

    /// The name used in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::In => "in",
            Self::NotIn => "not_in",
            Self::StartsWith => "starts_with",
            Self::EndsWith => "ends_with",
            Self::Contains => "contains",
            Self::Matches => "matches",
            Self::Lt => "lt",
            Self::Le => "le",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::SemverLt => "semver_lt",
            Self::SemverLe => "semver_le",
            Self::SemverGt => "semver_gt",
            Self::SemverGe => "semver_ge",
            Self::Before => "before",
            Self::After => "after",
        }
    }

    /// Whether the operator takes a list (`values`) rather than one `value`.
    pub fn takes_list(self) -> bool {
        matches!(self, Self::In | Self::NotIn)
    }
}

/// A circuit breaker: a switch services read, tripped by people or alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Breaker {
    /// What opening it does, for the operator who has to decide.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Environments it exists in; empty means all.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Alerts that trip it: each entry is a set of Alertmanager-style label
    /// matchers (`alertname=X`, `service=~check.*`, `!=`, `!~`) that must all
    /// hold; any entry matching trips the breaker.
    #[serde(default)]
    pub trips_on: Vec<Vec<String>>,
    /// How it closes after its alerts resolve.
    #[serde(default)]
    pub close: ClosePolicy,
    /// When the console warns that it flaps.
    #[serde(default, skip_serializing_if = "FlapPolicy::is_default")]
    pub flapping: FlapPolicy,
}

impl Breaker {
    /// Whether the breaker exists in `env` (named there, or in all).
    pub fn exists_in(&self, env: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e == env)
    }
}

/// How many trips in how long make a breaker flap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FlapPolicy {
    /// The window trips are counted over (a duration).
    #[serde(default = "FlapPolicy::default_window")]
    pub window: String,
    /// More trips than this within the window is flapping.
    #[serde(default = "FlapPolicy::default_threshold")]
    pub threshold: u32,
}

impl FlapPolicy {
    fn default_window() -> String {
        "1h".into()
    }

    fn default_threshold() -> u32 {
        3
    }

    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl Default for FlapPolicy {
    fn default() -> Self {
        Self {
            window: Self::default_window(),
            threshold: Self::default_threshold(),
        }
    }
}

/// How a breaker closes once its alerts resolve.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ClosePolicy {
    /// A person confirms (the breaker waits in `awaiting_close`).
    #[default]
    Manual,
    /// Closes by itself this long after the last alert resolved (a duration).
    AutoAfter(String),
}

/// A breaker's state in one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum BreakerState {
    /// Traffic flows.
    #[default]
    Closed,
    /// Tripped: the service should stop the guarded behaviour.
    Open,
    /// Its alerts resolved; still open until a person confirms.
    AwaitingClose,
}

impl BreakerState {
    /// Whether services must treat the breaker as open.
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Closed)
    }
}

/// What kind of write a [`Change`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ChangeKind {
    /// An environment was created.
    EnvironmentCreated,
    /// A service was created.
    ServiceCreated,
    /// A service's whole document was replaced.
    ServiceReplaced,
    /// Owners or description changed.
    ServiceUpdated,
    /// The service was deleted (tombstoned).
    ServiceTombstoned,
    /// A tombstoned service was restored.
    ServiceRestored,
    /// A tombstoned service was removed for good.
    ServiceReclaimed,
    /// The files a service is managed by were recorded (`after`) when a
    /// folder was applied.
    ServiceManaged,
    /// The schema changed.
    SchemaChanged,
    /// Values of one environment changed.
    ValuesChanged,
    /// A flag was created, changed or removed.
    FlagChanged,
    /// A breaker definition was created, changed or removed.
    BreakerDefined,
    /// A breaker's state changed.
    BreakerTransition,
    /// A service was restored to an earlier revision.
    Rollback,
    /// A user was created, or their role, scope or password changed.
    UserSaved,
    /// A user was deleted (and their sessions ended).
    UserDeleted,
    /// A token was issued.
    TokenCreated,
    /// A token was revoked.
    TokenRevoked,
    /// An environment's policy was set (`before` and `after` are policies).
    EnvironmentPolicySet,
    /// A change was submitted for review or scheduled (`after` is the request).
    ChangeRequestOpened,
    /// A change request was approved by one more person.
    ChangeRequestApproved,
    /// A change request was rejected.
    ChangeRequestRejected,
    /// Someone commented on a change request.
    ChangeRequestCommented,
    /// A change request was withdrawn by its author (or a scheduled change cancelled).
    ChangeRequestWithdrawn,
    /// A change request's edit was made again on the service's current revision.
    ChangeRequestRebased,
    /// A change request's edit was applied (logged after the edit's own changes).
    ChangeRequestApplied,
    /// A scheduled change could not apply at its time (stale, frozen, invalid).
    ChangeRequestFailed,
    /// A progressive rollout started, moved a step, stopped or ended
    /// (`item` is the flag; `after` holds the rollout and the default it
    /// serves).
    RolloutTransition,
}

impl ChangeKind {
    /// Every kind, in documentation order.
    pub const ALL: [Self; 28] = [
        Self::EnvironmentCreated,
        Self::ServiceCreated,
        Self::ServiceReplaced,
        Self::ServiceUpdated,
        Self::ServiceTombstoned,
        Self::ServiceRestored,
        Self::ServiceReclaimed,
        Self::ServiceManaged,
        Self::SchemaChanged,
        Self::ValuesChanged,
        Self::FlagChanged,
        Self::BreakerDefined,
        Self::BreakerTransition,
        Self::Rollback,
        Self::UserSaved,
        Self::UserDeleted,
        Self::TokenCreated,
        Self::TokenRevoked,
        Self::EnvironmentPolicySet,
        Self::ChangeRequestOpened,
        Self::ChangeRequestApproved,
        Self::ChangeRequestRejected,
        Self::ChangeRequestCommented,
        Self::ChangeRequestWithdrawn,
        Self::ChangeRequestRebased,
        Self::ChangeRequestApplied,
        Self::ChangeRequestFailed,
        Self::RolloutTransition,
    ];

    /// The name used in documents and filters.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnvironmentCreated => "environment_created",
            Self::ServiceCreated => "service_created",
            Self::ServiceReplaced => "service_replaced",
            Self::ServiceUpdated => "service_updated",
            Self::ServiceTombstoned => "service_tombstoned",
            Self::ServiceRestored => "service_restored",
            Self::ServiceReclaimed => "service_reclaimed",
            Self::ServiceManaged => "service_managed",
            Self::SchemaChanged => "schema_changed",
            Self::ValuesChanged => "values_changed",
            Self::FlagChanged => "flag_changed",
            Self::BreakerDefined => "breaker_defined",
            Self::BreakerTransition => "breaker_transition",
            Self::Rollback => "rollback",
            Self::UserSaved => "user_saved",
            Self::UserDeleted => "user_deleted",
            Self::TokenCreated => "token_created",
            Self::TokenRevoked => "token_revoked",
            Self::EnvironmentPolicySet => "environment_policy_set",
            Self::ChangeRequestOpened => "change_request_opened",
            Self::ChangeRequestApproved => "change_request_approved",
            Self::ChangeRequestRejected => "change_request_rejected",
            Self::ChangeRequestCommented => "change_request_commented",
            Self::ChangeRequestWithdrawn => "change_request_withdrawn",
            Self::ChangeRequestRebased => "change_request_rebased",
            Self::ChangeRequestApplied => "change_request_applied",
            Self::ChangeRequestFailed => "change_request_failed",
            Self::RolloutTransition => "rollout_transition",
        }
    }

    /// Whether it records a step of a change request.
    pub fn is_change_request(self) -> bool {
        matches!(
            self,
            Self::ChangeRequestOpened
                | Self::ChangeRequestApproved
                | Self::ChangeRequestRejected
                | Self::ChangeRequestCommented
                | Self::ChangeRequestWithdrawn
                | Self::ChangeRequestRebased
                | Self::ChangeRequestApplied
                | Self::ChangeRequestFailed
        )
    }

    /// The kind named `name`, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One entry of the append-only change log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Change {
    /// Global sequence number: the revision this change produced.
    pub revision: u64,
    /// The service it touched (absent for environment-wide changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The item within the service (a flag key, a breaker name), if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// The environment, where the change is specific to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Who made it: a user, a token, or an alert fingerprint.
    pub actor: String,
    /// When, as RFC 3339 (the caller's clock: the core has none).
    pub at: String,
    /// Why, in the actor's words.
    #[serde(default)]
    pub reason: String,
    /// What kind of write.
    pub kind: ChangeKind,
    /// The item's state before (absent for creations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The item's state after (absent for removals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}
