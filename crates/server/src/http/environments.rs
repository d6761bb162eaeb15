//! Environments: `GET`/`POST /api/v1/environments`.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, write};
use crate::{
    ApiError,
    auth::{Permission, Principal},
    world::Command,
};

/// The environment routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// An environment as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct EnvironmentView {
    name: String,
    description: String,
    /// The revision that created it.
    created_revision: u64,
    /// The revision its snapshot is at.
    snapshot_revision: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", summary = "List environments", responses((status = 200, body = [EnvironmentView]), (status = "4XX", description = "Error envelope", body = crate::error::ErrorResponse)))]
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

#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", summary = "Create an environment", request_body = CreateEnvironment, responses((status = 201, description = "The change", body = Object), (status = "4XX", description = "Error envelope", body = crate::error::ErrorResponse)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<(StatusCode, Json<setpoint_core::Change>), ApiError> {
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
