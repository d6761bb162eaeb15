//! The server's one error type and its JSON envelope:
//! `{"error": {"code", "message", "details": [{"path", "code", "message"}]}}`.
//!
//! Every failure a client can cause maps to a `4xx` with a message that says
//! what to fix. A `5xx` means a bug: it is logged with its cause and the
//! client sees only that something went wrong on our side.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use setpoint_core::Violation;
use setpoint_wire::{ErrorBody, ErrorEnvelope, Problem};

/// What can go wrong while handling a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad JSON, wrong content type, …).
    #[error("{message}")]
    BadRequest {
        /// Stable machine code.
        code: &'static str,
        /// What is wrong, for people.
        message: String,
        /// Where, when known.
        details: Vec<Violation>,
    },
    /// The body is larger than the limit.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The input breaks the domain's rules; the details say which, where.
    #[error("{} problem(s) found", .0.len())]
    Validation(Vec<Violation>),
    /// No credentials, or bad ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// Credentials fine, permission missing.
    #[error("{0}")]
    Forbidden(String),
    /// Too many requests of a costly kind (the named one) at once; retry in
    /// a moment.
    #[error("the server is busy with other {0}; retry in a moment")]
    Busy(&'static str),
    /// Too many attempts; retry after this many seconds.
    #[error("too many failed logins; try again in {0} seconds")]
    TooManyAttempts(u64),
    /// No such resource or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The write conflicts with the current state; `current` carries it so
    /// the client can show what changed and re-apply its edit.
    #[error("{message}")]
    Conflict {
        /// Stable machine code: `stale_revision` or `already_exists`.
        code: &'static str,
        /// For people.
        message: String,
        /// The current state, when there is one to rebase on.
        current: Option<serde_json::Value>,
    },
    /// An environment's policy stands in the way: frozen (`423`), a reason
    /// required (`422`), approval required (`409`).
    #[error(transparent)]
    Policy(setpoint_core::Gate),
    /// Not an error: the write was held as a change request (`202`). It
    /// ends the handler as a refusal would, since nothing was written.
    #[error("held for review as change request #{}", (.0).0.id)]
    Held(crate::http::Held),
    /// Temporarily unable to serve (shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an infrastructure failure; the cause is logged, not shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooManyAttempts(_) | Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Policy(gate) => match gate {
                setpoint_core::Gate::Frozen { .. } => StatusCode::LOCKED,
                setpoint_core::Gate::ReasonRequired { .. } => StatusCode::UNPROCESSABLE_ENTITY,
                setpoint_core::Gate::ApprovalRequired { .. } => StatusCode::CONFLICT,
            },
            Self::Held(_) => StatusCode::ACCEPTED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. } | Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Validation(_) => "validation_failed",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::TooManyAttempts(_) => "too_many_attempts",
            Self::Busy(_) => "busy",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Policy(gate) => gate.code(),
            Self::Held(_) => "held",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// A [`ApiError::BadRequest`] without details.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Held(held) = self {
            return held.into_response();
        }
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        let details: &[Violation] = match &self {
            Self::BadRequest { details, .. } | Self::Validation(details) => details,
            _ => &[],
        };
        let current = match &self {
            Self::Conflict { current, .. } => current.as_ref(),
            _ => None,
        };
        let body = ErrorEnvelope {
            error: ErrorBody {
                code: self.code().to_owned(),
                message: self.to_string(),
                details: details.iter().map(Problem::from).collect(),
                current: current.cloned(),
            },
        };
        (self.status(), Json(body)).into_response()
    }
}

impl From<crate::engine::WriteError> for ApiError {
    fn from(error: crate::engine::WriteError) -> Self {
        use crate::{engine::WriteError, world::Refusal};
        let message = error.to_string();
        match error {
            WriteError::Refused(Refusal::NotFound(_)) => Self::NotFound(message),
            WriteError::Refused(Refusal::AlreadyExists(_)) => Self::Conflict {
                code: "already_exists",
                message,
                current: None,
            },
            // The state to rebase on goes only through `http::write`, which
            // cuts it to what the writer may see.
            WriteError::Refused(Refusal::Conflict { .. }) => Self::Conflict {
                code: "stale_revision",
                message,
                current: None,
            },
            WriteError::Refused(Refusal::Invalid(violations)) => Self::Validation(violations),
            WriteError::Refused(Refusal::BreakerState(_)) => Self::Conflict {
                code: "breaker_state",
                message,
                current: None,
            },
            WriteError::Refused(Refusal::RequestClosed(_)) => Self::Conflict {
                code: "request_closed",
                message,
                current: None,
            },
            WriteError::Refused(Refusal::RolloutState(_)) => Self::Conflict {
                code: "rollout_state",
                message,
                current: None,
            },
            WriteError::Refused(Refusal::NotAllowed(_)) => Self::Forbidden(message),
            WriteError::Refused(Refusal::Gate(gate)) => Self::Policy(gate),
            // Behind after every retry: other writers kept committing first.
            WriteError::Store(error) if error.is_unavailable() || error.is_behind() => {
                unavailable(&error)
            }
            WriteError::Store(error) => Self::Internal(Box::new(StoreFailure(error))),
            WriteError::Stopped => Self::Unavailable("the server is shutting down".into()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        if error.is_unavailable() {
            unavailable(&error)
        } else {
            Self::Internal(Box::new(error))
        }
    }
}

/// The database is away: `503`, nothing written. The cause is for the
/// operator's log, not for whoever asked.
fn unavailable(error: &crate::store::StoreError) -> ApiError {
    tracing::warn!(%error, "the store does not answer");
    ApiError::Unavailable("the store does not answer; retry in a moment".into())
}

/// A shared store error, as a boxable error.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct StoreFailure(std::sync::Arc<crate::store::StoreError>);
