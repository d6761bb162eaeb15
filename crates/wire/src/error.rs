//! The error envelope every failed call answers with:
//! `{"error": {"code", "message", "details": [{"path", "code", "message"}], "current"}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use setpoint_core::Violation;

/// `{"error": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Stable machine code clients switch on, e.g. `validation_failed`.
    pub code: String,
    /// For people: what to fix.
    pub message: String,
    /// Field-level problems, where the input had them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<Problem>,
    /// On `409 stale_revision`: the current state of what was edited, to
    /// rebase on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub current: Option<Value>,
}

/// One problem at one place of the input — from the server's check or the
/// core's in the browser, which are the same check.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// Where: a field path such as `values.prod["throttle.rps"]`; empty for
    /// the whole input.
    pub path: String,
    /// Stable machine code, e.g. `above_max`.
    pub code: String,
    /// For people.
    pub message: String,
}

impl From<&Violation> for Problem {
    fn from(violation: &Violation) -> Self {
        Self {
            path: violation.path.to_string(),
            code: violation.code().to_string(),
            message: violation.kind.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use setpoint_core::{FieldPath, Violation, ViolationKind};

    use super::Problem;

    #[test]
    fn a_problem_reads_as_the_core_writes_a_violation() {
        let violation = Violation::new(
            FieldPath::root().key("owners"),
            ViolationKind::EmptyMatcherSet,
        );
        let written = serde_json::to_value(&violation).expect("serializes");
        let read: Problem = serde_json::from_value(written).expect("reads");
        assert_eq!(read, Problem::from(&violation));
    }
}
