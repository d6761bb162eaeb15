//! Change requests: `GET /api/v1/change-requests` (filtered), one request,
//! and its steps — `reviews` (approve, reject, comment), `withdraw`,
//! `rebase` and `apply` (again, after it could not).
//!
//! Writes become requests in [`super::write`]; this module only shows and
//! moves them. Who may review is the policy's to say (in the world); that
//! the reviewer's scope covers the request is this module's.

use std::{borrow::Cow, sync::Arc};

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};

use setpoint_wire::RequestFilter;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, Params, PathParams};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    engine::WriteError,
    world::{ChangeRequest, Command, Refusal, RequestState, Verdict},
};

/// The change-request routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(review))
        .routes(routes!(withdraw))
        .routes(routes!(rebase))
        .routes(routes!(apply))
}

/// Requests, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct List {
    #[schema(value_type = Vec<Object>)]
    change_requests: Vec<Arc<ChangeRequest>>,
}

/// One request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct One {
    #[schema(value_type = Object)]
    change_request: Arc<ChangeRequest>,
}

#[utoipa::path(get, path = "/api/v1/change-requests", tag = "change-requests", summary = "List change requests and scheduled changes", params(RequestFilter), responses((status = 200, body = List), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<RequestFilter>,
) -> Result<Json<List>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    let states: Option<Vec<RequestState>> = match query.state.as_deref() {
        None => None,
        Some("pending") => Some(vec![RequestState::Open, RequestState::Approved]),
        Some(name) => Some(vec![parse_state(name)?]),
    };
    let limit = match query.limit {
        None => 100,
        Some(n @ 1..=500) => n as usize,
        Some(_) => {
            return Err(ApiError::bad_request("invalid_limit", "limit is 1 to 500"));
        }
    };
    let world = state.engine.world();
    let change_requests = world
        .change_requests
        .values()
        .rev()
        .filter(|r| states.as_ref().is_none_or(|s| s.contains(&r.state)))
        .filter(|r| query.service.as_ref().is_none_or(|s| *s == r.service))
        .filter(|r| query.author.as_ref().is_none_or(|a| *a == r.author))
        .filter(|r| {
            query
                .environment
                .as_ref()
                .is_none_or(|e| r.environments.contains(e))
        })
        .filter(|r| !query.awaiting_me.unwrap_or(false) || awaits(&world, r, &principal))
        .filter_map(|r| shown(r, &principal))
        .take(limit)
        .collect();
    Ok(Json(List { change_requests }))
}

#[utoipa::path(get, path = "/api/v1/change-requests/{id}", tag = "change-requests", summary = "Show a change request", params(("id" = u64, Path, description = "Change request id")), responses((status = 200, body = One), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<u64>,
) -> Result<Json<One>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    Ok(Json(One {
        change_request: visible(&state, &principal, id)?,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    /// `approve`, `reject` or `comment`.
    #[schema(value_type = String)]
    verdict: Verdict,
    #[serde(default)]
    text: String,
}

#[utoipa::path(post, path = "/api/v1/change-requests/{id}/reviews", tag = "change-requests", summary = "Approve, reject or comment on a change request; the last approval applies it", params(("id" = u64, Path, description = "Change request id")), request_body = ReviewBody, responses((status = 200, body = One), (status = "4XX", description = "Error envelope; 409 `stale_revision` when the last approval was recorded but the service moved since the request's base", body = setpoint_wire::ErrorEnvelope)))]
async fn review(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<u64>,
    body: JsonBody,
) -> Result<Json<One>, ApiError> {
    let request = visible(&state, &principal, id)?;
    let body: ReviewBody = body.parse()?;
    if body.text.chars().count() > 4000 {
        return Err(ApiError::bad_request(
            "text_too_long",
            "a review's text is at most 4,000 characters",
        ));
    }
    if body.verdict != Verdict::Comment {
        // Reviewing is acting on the service in each environment the edit
        // changes: a scope that does not cover them all may not.
        require_each(&principal, Permission::Rollout, &request)?;
    }
    let command = Command::ReviewRequest {
        id,
        verdict: body.verdict,
        text: body.text.trim().to_string(),
    };
    let after = step(&state, &principal, command).await?;
    match after
        .outcome
        .as_ref()
        .filter(|_| after.state == RequestState::Approved)
    {
        // Approved, but its edit could not apply: the approval stands,
        // and the author rebases or the request waits out a freeze.
        Some(outcome) => Err(ApiError::Conflict {
            code: if outcome.starts_with("stale") {
                "stale_revision"
            } else {
                "not_applied"
            },
            message: format!("change request #{id} is approved but did not apply: {outcome}"),
            current: serde_json::to_value(shown_or_hidden(&after, &principal)).ok(),
        }),
        None => Ok(Json(One {
            change_request: after,
        })),
    }
}

#[utoipa::path(post, path = "/api/v1/change-requests/{id}/withdraw", tag = "change-requests", summary = "Withdraw a change request or cancel a scheduled change (its author, or an admin)", params(("id" = u64, Path, description = "Change request id")), responses((status = 200, body = One), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn withdraw(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<u64>,
) -> Result<Json<One>, ApiError> {
    visible(&state, &principal, id)?;
    let change_request = step(&state, &principal, Command::WithdrawRequest { id }).await?;
    Ok(Json(One { change_request }))
}

#[utoipa::path(post, path = "/api/v1/change-requests/{id}/rebase", tag = "change-requests", summary = "Make a change request's edit again on the service's current revision (its author); approvals start over", params(("id" = u64, Path, description = "Change request id")), responses((status = 200, body = One), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn rebase(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<u64>,
) -> Result<Json<One>, ApiError> {
    visible(&state, &principal, id)?;
    let change_request = step(&state, &principal, Command::RebaseRequest { id }).await?;
    Ok(Json(One { change_request }))
}

#[utoipa::path(post, path = "/api/v1/change-requests/{id}/apply", tag = "change-requests", summary = "Apply an approved change request that could not apply before (a freeze ended, say)", params(("id" = u64, Path, description = "Change request id")), responses((status = 200, body = One), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn apply(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<u64>,
) -> Result<Json<One>, ApiError> {
    let request = visible(&state, &principal, id)?;
    // Applying is the author's edit, made again: whoever asks must be
    // able to act where it lands.
    require_each(&principal, Permission::Rollout, &request)?;
    let change_request = step(&state, &principal, Command::ApplyDue { id }).await?;
    Ok(Json(One { change_request }))
}

/// Commits one step of request `id` as `principal`, and answers with the
/// request after it.
async fn step(
    state: &AppState,
    principal: &Principal,
    command: Command,
) -> Result<Arc<ChangeRequest>, ApiError> {
    let id = match &command {
        Command::ReviewRequest { id, .. }
        | Command::WithdrawRequest { id }
        | Command::RebaseRequest { id }
        | Command::ApplyDue { id } => *id,
        _ => return Err(ApiError::Internal("not a change request's step".into())),
    };
    let written = state
        .engine
        .write_by(vec![command], &principal.actor, principal.role, "")
        .await;
    match written {
        Ok(_) => {}
        // A stale base while rebasing or applying: the request says why.
        Err(WriteError::Refused(Refusal::Conflict { base, current, .. })) => {
            return Err(ApiError::Conflict {
                code: "stale_revision",
                message: format!(
                    "the service changed since revision {base} (now {current}): rebase the request"
                ),
                current: None,
            });
        }
        Err(error) => return Err(error.into()),
    }
    let request = state.engine.world().change_requests.get(&id).cloned();
    let request = request
        .ok_or_else(|| ApiError::NotFound(format!("change request #{id} does not exist")))?;
    Ok(shown_or_hidden(&request, principal))
}

/// Request `id`, if `principal` may see it.
fn visible(
    state: &AppState,
    principal: &Principal,
    id: u64,
) -> Result<Arc<ChangeRequest>, ApiError> {
    state
        .engine
        .world()
        .change_requests
        .get(&id)
        .and_then(|r| shown(r, principal))
        .ok_or_else(|| ApiError::NotFound(format!("change request #{id} does not exist")))
}

/// `request` as `principal` may see it, if at all.
fn shown(request: &Arc<ChangeRequest>, principal: &Principal) -> Option<Arc<ChangeRequest>> {
    match request.visible_to(principal)? {
        Cow::Borrowed(_) => Some(Arc::clone(request)),
        Cow::Owned(cut) => Some(Arc::new(cut)),
    }
}

/// After a step the principal could take, the request stays theirs to
/// see; should it not (its edit moved it out of their scope), they get
/// only its id and state.
fn shown_or_hidden(request: &Arc<ChangeRequest>, principal: &Principal) -> Arc<ChangeRequest> {
    shown(request, principal).unwrap_or_else(|| {
        Arc::new(ChangeRequest {
            edit: Vec::new(),
            diff: Vec::new(),
            ..ChangeRequest::clone(request)
        })
    })
}

/// Refuses a principal whose scope misses the request's service or one of
/// its environments.
fn require_each(
    principal: &Principal,
    permission: Permission,
    request: &ChangeRequest,
) -> Result<(), ApiError> {
    if request.environments.is_empty() {
        return principal.require(permission, Some(&request.service), None);
    }
    for environment in &request.environments {
        principal.require(permission, Some(&request.service), Some(environment))?;
    }
    Ok(())
}

/// Whether `principal` could approve `request` now.
fn awaits(world: &crate::world::World, request: &ChangeRequest, principal: &Principal) -> bool {
    request.state == RequestState::Open
        && require_each(principal, Permission::Rollout, request).is_ok()
        && world
            .may_review(request, principal.role, &principal.actor)
            .is_ok()
}

fn parse_state(name: &str) -> Result<RequestState, ApiError> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).map_err(|_| {
        ApiError::bad_request(
            "invalid_state",
            format!(
                "state {name:?} is not one of open, approved, applied, rejected, withdrawn, failed, pending"
            ),
        )
    })
}
