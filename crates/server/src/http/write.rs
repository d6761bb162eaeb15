//! What every write request carries besides its payload — the revision it
//! was based on and a reason — and the one way a handler commits it.

use std::{borrow::Cow, sync::Arc};

use axum::http::{HeaderMap, header};
use setpoint_core::Change;

use super::AppState;
use crate::{
    ApiError,
    auth::{Principal, Visible},
    engine::WriteError,
    world::{Command, Refusal, ServiceRecord, World},
};

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
    match state
        .engine
        .write_all(commands, &principal.actor, reason)
        .await
    {
        Ok(changes) => Ok(changes
            .iter()
            .filter_map(|change| change.visible_to(principal).map(Cow::into_owned))
            .collect()),
        Err(WriteError::Refused(Refusal::Conflict { base, state, .. })) => {
            Err(conflict(base, &state, principal))
        }
        Err(error) => Err(error.into()),
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
