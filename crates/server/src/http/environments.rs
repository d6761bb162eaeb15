//! Environments: `GET`/`POST /api/v1/environments`, and each one's policy:
//! `PUT /api/v1/environments/{environment}/policy`.

use axum::{Json, extract::State, http::StatusCode};
use serde::Deserialize;
use setpoint_core::{Change, Policy};

use setpoint_wire::EnvironmentView;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, PathParams, write};
use crate::{
    ApiError,
    auth::{Permission, Principal},
    world::Command,
};

/// The environment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(set_policy))
}

#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", summary = "List environments", responses((status = 200, body = [EnvironmentView]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<EnvironmentView>>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    let world = state.engine.world();
    Ok(Json(
        world
            .environments
            .values()
            .filter(|env| principal.sees_environment(&env.name))
            .map(|env| EnvironmentView {
                name: env.name.clone(),
                description: env.description.clone(),
                created_revision: env.revision,
                snapshot_revision: state
                    .engine
                    .snapshots()
                    .current(&env.name)
                    .map(|s| s.revision),
                policy: env.policy.clone(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateEnvironment {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", summary = "Create an environment", request_body = CreateEnvironment, responses((status = 201, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<(StatusCode, Json<Change>), ApiError> {
    principal.require(Permission::Administer, None, None)?;
    let request: CreateEnvironment = body.parse()?;
    let command = Command::CreateEnvironment {
        name: request.name,
        description: request.description,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok((StatusCode::CREATED, Json(change)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SetPolicy {
    /// `reason_required`, `approvals_required`, `approver_role`,
    /// `author_may_approve`, `frozen: [{from, until, reason}]`.
    #[schema(value_type = Object)]
    policy: Policy,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/environments/{environment}/policy", tag = "environments", summary = "Set an environment's policy (admins)", params(("environment" = String, Path, description = "Environment")), request_body = SetPolicy, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn set_policy(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(environment): PathParams<String>,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    // A policy binds every service in the environment: only an admin who
    // may act on all of them sets one.
    principal.require(Permission::Administer, None, Some(&environment))?;
    let request: SetPolicy = body.parse()?;
    let command = Command::SetPolicy {
        environment,
        policy: request.policy,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok(Json(change))
}
