//! Progressive rollouts: start a plan on a flag in one environment, steer
//! it (pause, resume, retry from a step, abort), and list them.
//!
//! Starting is an edit of the flag's targeting, so it is held to the
//! environment's policy like one (it may become a change request). Steering
//! is not: like closing a breaker, pulling a rollout back or letting it go
//! on cannot wait for a review.

use axum::{Json, extract::State, http::HeaderMap};
use serde::Deserialize;
use setpoint_core::{
    Change,
    rollout::{RolloutPlan, RolloutState, Steer},
};
use setpoint_wire::{RolloutFilter, RolloutLine, RolloutList};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, Params, PathParams, write};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    world::{Command, RolloutAt},
};

/// The rollout routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(retry))
        .routes(routes!(abort))
        .routes(routes!(list))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RolloutStart {
    /// The variant, the steps (`percent`, `hold`) and the guards
    /// (`{"alert": ["severity=\"page\""]}` or `{"breaker": "name"}`).
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "super::extract::object")]
    plan: RolloutPlan,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout", tag = "rollouts", summary = "Start a progressive rollout of a flag in one environment", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ("environment" = String, Path, description = "Environment")), request_body = RolloutStart, responses((status = 200, description = "The change", body = Change), (status = 202, description = "Held for review: the change request", body = Object), (status = "4XX", description = "Error envelope (409 rollout_state while another plan runs)", body = setpoint_wire::ErrorEnvelope)))]
async fn start(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, flag, environment)): PathParams<(String, String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Rollout, Some(&service), Some(&environment))?;
    let request: RolloutStart = body.parse()?;
    let base = write::base_revision(&headers, request.base_revision)?;
    let command = Command::StartRollout {
        service,
        flag,
        environment,
        plan: request.plan,
        base,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok(Json(change))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RolloutSteer {
    /// Why: required, it is what the next person reads.
    reason: String,
    /// Resume or retry although guards still fire.
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RolloutRetry {
    /// Why: required.
    reason: String,
    /// The step to run from, counted from 0.
    step: usize,
    /// Retry although guards still fire.
    #[serde(default)]
    force: bool,
}

type RolloutPath = PathParams<(String, String, String)>;

#[utoipa::path(post, path = "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/pause", tag = "rollouts", summary = "Pause a running rollout where it is", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ("environment" = String, Path, description = "Environment")), request_body = RolloutSteer, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 rollout_state when not running)", body = setpoint_wire::ErrorEnvelope)))]
async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): RolloutPath,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    let request: RolloutSteer = body.parse()?;
    steer(&state, &principal, path, Steer::Pause, request.reason).await
}

#[utoipa::path(post, path = "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/resume", tag = "rollouts", summary = "Resume a paused or halted rollout", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ("environment" = String, Path, description = "Environment")), request_body = RolloutSteer, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 rollout_state when not paused or halted, or guards still fire without force)", body = setpoint_wire::ErrorEnvelope)))]
async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): RolloutPath,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    let request: RolloutSteer = body.parse()?;
    let force = request.force;
    steer(
        &state,
        &principal,
        path,
        Steer::Resume { force },
        request.reason,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/retry", tag = "rollouts", summary = "Run a paused or halted rollout again from a step", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ("environment" = String, Path, description = "Environment")), request_body = RolloutRetry, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 rollout_state)", body = setpoint_wire::ErrorEnvelope)))]
async fn retry(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): RolloutPath,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    let request: RolloutRetry = body.parse()?;
    let op = Steer::Retry {
        step: request.step,
        force: request.force,
    };
    steer(&state, &principal, path, op, request.reason).await
}

#[utoipa::path(post, path = "/api/v1/services/{service}/flags/{flag}/environments/{environment}/rollout/abort", tag = "rollouts", summary = "End a rollout: everyone gets the variant it started from", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ("environment" = String, Path, description = "Environment")), request_body = RolloutSteer, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 rollout_state when it has ended)", body = setpoint_wire::ErrorEnvelope)))]
async fn abort(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(path): RolloutPath,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    let request: RolloutSteer = body.parse()?;
    steer(&state, &principal, path, Steer::Abort, request.reason).await
}

async fn steer(
    state: &AppState,
    principal: &Principal,
    (service, flag, environment): (String, String, String),
    steer: Steer,
    reason: String,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Rollout, Some(&service), Some(&environment))?;
    let reason = write::reason(Some(reason))?;
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "say why: a rollout is steered with a reason",
        ));
    }
    let at = RolloutAt {
        service,
        environment,
        flag,
    };
    let change = write::commit(
        state,
        principal,
        Command::SteerRollout { at, steer },
        &reason,
    )
    .await?;
    Ok(Json(change))
}

#[utoipa::path(get, path = "/api/v1/rollouts", tag = "rollouts", summary = "List progressive rollouts", params(RolloutFilter), responses((status = 200, body = RolloutList), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<RolloutFilter>,
) -> Result<Json<RolloutList>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    let states: Option<Vec<RolloutState>> = match query.state.as_deref() {
        None => None,
        Some("active") => Some(vec![
            RolloutState::Running,
            RolloutState::Paused,
            RolloutState::Halted,
        ]),
        Some(name) => Some(vec![parse_state(name)?]),
    };
    let world = state.engine.world();
    let rollouts = world
        .rollouts()
        .filter(|(at, _)| at.visible_to(&principal).is_some())
        .filter(|(_, r)| states.as_ref().is_none_or(|s| s.contains(&r.state)))
        .filter(|(at, _)| query.service.as_ref().is_none_or(|s| *s == at.service))
        .filter(|(at, _)| {
            query
                .environment
                .as_ref()
                .is_none_or(|e| *e == at.environment)
        })
        .map(|(at, rollout)| RolloutLine {
            service: at.service.clone(),
            environment: at.environment.clone(),
            flag: at.flag.clone(),
            rollout: rollout.clone(),
        })
        .collect();
    Ok(Json(RolloutList { rollouts }))
}

fn parse_state(name: &str) -> Result<RolloutState, ApiError> {
    [
        RolloutState::Running,
        RolloutState::Paused,
        RolloutState::Halted,
        RolloutState::Completed,
        RolloutState::Aborted,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
    .ok_or_else(|| {
        ApiError::bad_request(
            "invalid_state",
            format!(
                "state {name:?} is not one of running, paused, halted, completed, aborted, active"
            ),
        )
    })
}
