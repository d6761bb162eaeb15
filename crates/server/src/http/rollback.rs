//! `POST /api/v1/services/{service}/rollback`: restore a service — or one
//! environment of it — to its state right after an earlier revision, as a
//! new change. `dry_run` returns the diff without writing.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use setpoint_core::{ServiceDoc, diff_services};

use setpoint_wire::RollbackPreview;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, PathParams, write};
use crate::{
    ApiError,
    auth::{Permission, Principal},
    verify::service_at,
    world::Command,
};

/// The rollback route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(rollback))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    /// Restore the state right after this revision.
    to_revision: u64,
    /// Only this environment's values and flag targeting.
    #[serde(default)]
    environment: Option<String>,
    /// Only show what would change.
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

/// `current` with `environment`'s values and flag targeting taken from `old`.
fn restore_environment(current: &ServiceDoc, old: &ServiceDoc, environment: &str) -> ServiceDoc {
    let mut doc = current.clone();
    match old.values.get(environment) {
        Some(values) => {
            doc.values.insert(environment.to_string(), values.clone());
        }
        None => {
            doc.values.remove(environment);
        }
    }
    for (key, flag) in &mut doc.flags {
        match old
            .flags
            .get(key)
            .and_then(|f| f.environments.get(environment))
        {
            Some(targeting) => {
                flag.environments
                    .insert(environment.to_string(), targeting.clone());
            }
            None => {
                flag.environments.remove(environment);
            }
        }
    }
    doc
}

#[utoipa::path(post, path = "/api/v1/services/{service}/rollback", tag = "services", summary = "Roll a service or one environment back to an earlier revision", params(("service" = String, Path, description = "Service name")), request_body = RollbackRequest, responses((status = 200, body = RollbackPreview), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request: RollbackRequest = body.parse()?;
    // A whole-service rollback can change the schema: admins only. One
    // environment's values and targeting: editors.
    match &request.environment {
        Some(environment) => {
            principal.require(Permission::Edit, Some(&service), Some(environment))?;
        }
        None => principal.require(Permission::Administer, Some(&service), None)?,
    }
    let world = state.engine.world();
    // The target is computed from the current state, so a real rollback is
    // computed from the state its base names (the writer checks the base
    // is still current): a change landing in between is a `409`, never
    // silently rolled over.
    let base = if request.dry_run {
        None
    } else {
        Some(write::base_revision(&headers, request.base_revision)?)
    };
    let current = match base {
        Some(base) => write::record_at(&world, &principal, &service, base)?,
        None => world
            .services
            .get(&service)
            .filter(|r| r.tombstone.is_none())
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("service {service:?} does not exist")))?,
    };
    if request.to_revision > world.revision {
        return Err(ApiError::bad_request(
            "invalid_revision",
            format!("revision {} is in the future", request.to_revision),
        ));
    }
    let old = service_at(state.engine.store(), &service, request.to_revision)
        .await?
        .map_err(|problem| ApiError::Internal(problem.into()))?
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_revision",
                format!(
                    "{service:?} did not exist right after revision {}",
                    request.to_revision
                ),
            )
        })?;
    let target = match &request.environment {
        Some(environment) => restore_environment(&current.doc, &old, environment),
        None => old,
    };
    let diff = diff_services(&current.doc, &target);
    let Some(base) = base else {
        return Ok(Json(RollbackPreview {
            dry_run: true,
            revision: None,
            base_revision: current.revision,
            diff,
        })
        .into_response());
    };
    let reason = write::reason(request.reason)?;
    let reason = format!(
        "rollback to revision {}{}{reason}",
        request.to_revision,
        if reason.is_empty() { "" } else { ": " }
    );
    let change = write::commit(
        &state,
        &principal,
        Command::Rollback { doc: target, base },
        &reason,
    )
    .await?;
    Ok((
        StatusCode::OK,
        Json(RollbackPreview {
            dry_run: false,
            revision: Some(change.revision),
            base_revision: base,
            diff,
        }),
    )
        .into_response())
}
