//! What every write request carries besides its payload — the revision it
//! was based on, a reason, and when to apply it — and the one way a handler
//! commits it.
//!
//! Every edit commits through [`commit_all`], which is also where it is
//! held instead when it must wait: for other people's approval, which an
//! environment's policy may ask of it, or for the time named by a
//! `Setpoint-Apply-At` header. Either way it becomes a change request
//! (`202 Accepted`), kept exactly as it would have been written.

use std::{borrow::Cow, sync::Arc};

use axum::{
    extract::Request,
    http::{HeaderMap, HeaderName, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use setpoint_core::{Change, Gate};

use super::AppState;
use crate::{
    ApiError,
    auth::{Principal, Visible},
    engine::WriteError,
    world::{ChangeRequest, Command, Refusal, ServiceRecord, World},
};

/// Names the time a write is to apply at (RFC 3339): the write becomes a
/// scheduled change.
pub const APPLY_AT: HeaderName = HeaderName::from_static("setpoint-apply-at");

tokio::task_local! {
    /// The request's `Setpoint-Apply-At`, for [`commit_all`]: set around
    /// every request by [`options`], so no handler has to carry it.
    static APPLY_AT_VALUE: Option<String>;
}

/// Middleware: makes the request's `Setpoint-Apply-At` known to
/// [`commit_all`] while the request is handled.
pub async fn options(request: Request, next: Next) -> Response {
    // Reads, the hot path, carry no write options.
    if request.method().is_safe() {
        return next.run(request).await;
    }
    let apply_at = match request.headers().get(&APPLY_AT).map(|v| v.to_str()) {
        None => None,
        Some(Ok(text)) => Some(text.trim().to_string()),
        Some(Err(_)) => {
            return ApiError::bad_request(
                "invalid_apply_at",
                "Setpoint-Apply-At must be an RFC 3339 time such as 2026-12-24T18:00:00Z",
            )
            .into_response();
        }
    };
    APPLY_AT_VALUE.scope(apply_at, next.run(request)).await
}

/// The change request an edit became, answered `202 Accepted` with its
/// `Location`.
#[derive(Debug)]
pub struct Held(pub Arc<ChangeRequest>);

impl IntoResponse for Held {
    fn into_response(self) -> Response {
        let location = format!("/api/v1/change-requests/{}", self.0.id);
        (
            StatusCode::ACCEPTED,
            [(header::LOCATION, location)],
            axum::Json(serde_json::json!({ "change_request": self.0 })),
        )
            .into_response()
    }
}

/// The base revision of a write: `If-Match: "N"` or the body's
/// `base_revision`. One is required; when both are given they must agree.
pub fn base_revision(headers: &HeaderMap, body: Option<u64>) -> Result<u64, ApiError> {
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default().trim();
            let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
            Some(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_if_match",
                    format!("If-Match must be a revision such as \"12\", not {text:?}"),
                )
            })?)
        }
    };
    match (header, body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::bad_request(
            "conflicting_base_revision",
            format!("If-Match says revision {h} but base_revision says {b}"),
        )),
        (Some(revision), _) | (None, Some(revision)) => Ok(revision),
        (None, None) => Err(ApiError::bad_request(
            "missing_base_revision",
            "say which revision the edit is based on: `If-Match: \"N\"` or `base_revision` in the body",
        )),
    }
}

/// A reason, trimmed; at most 1,000 characters.
pub fn reason(text: Option<String>) -> Result<String, ApiError> {
    let text = text.unwrap_or_default().trim().to_string();
    if text.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "reason_too_long",
            "a reason is at most 1,000 characters",
        ));
    }
    Ok(text)
}

/// Commits `commands` (all or nothing) as `principal`, and answers with
/// the changes as the principal may see them. A stale base is a `409`
/// carrying the current state, cut to the principal's scope: this is the
/// one way handlers write, so no answer shows more than the writer sees.
pub async fn commit_all(
    state: &AppState,
    principal: &Principal,
    commands: Vec<Command>,
    reason: &str,
) -> Result<Vec<Change>, ApiError> {
    let apply_at = APPLY_AT_VALUE.try_with(Clone::clone).ok().flatten();
    if apply_at.is_some() {
        return Err(hold(state, principal, commands, apply_at, reason).await);
    }
    let engine = &state.engine;
    match engine
        .write_by(commands.clone(), &principal.actor, principal.role, reason)
        .await
    {
        Ok(changes) => Ok(changes
            .iter()
            .filter_map(|change| change.visible_to(principal).map(Cow::into_owned))
            .collect()),
        Err(WriteError::Refused(Refusal::Gate(Gate::ApprovalRequired { .. }))) => {
            Err(hold(state, principal, commands, None, reason).await)
        }
        Err(error) => Err(refused(error, principal)),
    }
}

/// Holds `commands` as a change request. What comes back is an error only
/// in the type's sense: a `202` with the request, which ends the handler
/// like a refusal would, since nothing was written.
async fn hold(
    state: &AppState,
    principal: &Principal,
    edit: Vec<Command>,
    apply_at: Option<String>,
    reason: &str,
) -> ApiError {
    let command = Command::OpenRequest { edit, apply_at };
    let opened = state
        .engine
        .write_by(vec![command], &principal.actor, principal.role, reason)
        .await;
    let request = opened.map(|changes| {
        let id = changes.first().map_or(0, |c| c.revision);
        state.engine.world().change_requests.get(&id).cloned()
    });
    match request {
        Ok(Some(request)) => ApiError::Held(Held(request)),
        Ok(None) => ApiError::Internal("the change request opened is not in the world".into()),
        Err(error) => refused(error, principal),
    }
}

/// A refused write as an answer: a stale base carries the current state,
/// cut to what the writer may see.
fn refused(error: WriteError, principal: &Principal) -> ApiError {
    match error {
        WriteError::Refused(Refusal::Conflict { base, state, .. }) => {
            conflict(base, &state, principal)
        }
        error => error.into(),
    }
}

/// The live service a write derives its command from, read at the write's
/// `base`. A handler that decides anything from the current state (who may
/// make the edit, what a rollback restores, what a scoped edit keeps)
/// must decide from the very state the base names; the writer then checks
/// that the base is still current, so the decision and the commit see the
/// same state — or the write is a `409`.
pub fn record_at(
    world: &World,
    principal: &Principal,
    service: &str,
    base: u64,
) -> Result<Arc<ServiceRecord>, ApiError> {
    let record = world
        .services
        .get(service)
        .filter(|record| record.tombstone.is_none())
        .ok_or_else(|| ApiError::NotFound(format!("service {service:?} does not exist")))?;
    if record.revision != base {
        return Err(conflict(base, record, principal));
    }
    Ok(Arc::clone(record))
}

/// A `409` for a write based on `base`, carrying `record` as `principal`
/// may see it, to rebase on.
fn conflict(base: u64, record: &Arc<ServiceRecord>, principal: &Principal) -> ApiError {
    ApiError::Conflict {
        code: "stale_revision",
        message: Refusal::Conflict {
            base,
            current: record.revision,
            state: Arc::clone(record),
        }
        .to_string(),
        current: record
            .visible_to(principal)
            .and_then(|visible| serde_json::to_value(visible.as_ref()).ok()),
    }
}

/// [`commit_all`] of one command that logs one change.
pub async fn commit(
    state: &AppState,
    principal: &Principal,
    command: Command,
    reason: &str,
) -> Result<Change, ApiError> {
    let mut changes = commit_all(state, principal, vec![command], reason).await?;
    changes
        .pop()
        .ok_or_else(|| ApiError::Internal("the write logged no change the writer may see".into()))
}
