//! Services and their parts: documents, values, schemas, flags; deletion
//! (tombstones) and restore; per-service history.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use setpoint_core::{Change, Flag, KeySpec, ServiceDoc};
use setpoint_wire::{ChangeFilter, ChangePage, FlagWrite, ServiceSummary, ValuesPatch};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, Params, PathParams, changes::store_query, write};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    store::ChangeQuery,
    world::Command,
};

/// The service routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, replace, remove))
        .routes(routes!(restore))
        .routes(routes!(patch_values))
        .routes(routes!(put_schema))
        .routes(routes!(put_flag, delete_flag))
        .routes(routes!(history))
}

#[utoipa::path(get, path = "/api/v1/services", tag = "services", summary = "List services", responses((status = 200, body = [ServiceSummary]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<ServiceSummary>>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    let world = state.engine.world();
    Ok(Json(
        world
            .services
            .values()
            .filter(|record| principal.sees_service(&record.doc.service))
            .map(|record| ServiceSummary {
                service: record.doc.service.clone(),
                description: record.doc.description.clone(),
                owners: record.doc.owners.clone(),
                revision: record.revision,
                keys: record.doc.schema.len(),
                flags: record.doc.flags.len(),
                breakers: record.doc.breakers.len(),
                environments: world
                    .environments
                    .keys()
                    .filter(|env| principal.sees_environment(env) && record.doc.configures(env))
                    .cloned()
                    .collect(),
                tombstone: record.tombstone.clone(),
                managed_by: record.managed_by.clone(),
                drifts: record.drifts(),
            })
            .collect(),
    ))
}

/// A service with its revision in the `ETag`, for `If-Match` on the next edit.
fn with_etag(revision: u64, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn written(status: StatusCode, change: Change) -> Response {
    with_etag(change.revision, (status, Json(change)))
}

#[utoipa::path(get, path = "/api/v1/services/{service}", tag = "services", summary = "A service with its revision", params(("service" = String, Path, description = "Service name")), responses((status = 200, description = "The service with its revision (also in the ETag), breaker states and rollouts", body = crate::world::ServiceRecord), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn show(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read, Some(&service), None)?;
    let world = state.engine.world();
    let record = world
        .services
        .get(&service)
        .and_then(|record| record.visible_to(&principal))
        .ok_or_else(|| ApiError::NotFound(format!("service {service:?} does not exist")))?;
    Ok(with_etag(record.revision, Json(record.as_ref())))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct DocumentWrite {
    #[schema(value_type = Object)]
    document: ServiceDoc,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services", summary = "Create a service", request_body = DocumentWrite, responses((status = 201, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request: DocumentWrite = body.parse()?;
    principal.require(
        Permission::Administer,
        Some(&request.document.service),
        None,
    )?;
    let change = write::commit(
        &state,
        &principal,
        Command::CreateService {
            doc: request.document,
        },
        &write::reason(request.reason)?,
    )
    .await?;
    Ok(written(StatusCode::CREATED, change))
}

#[utoipa::path(put, path = "/api/v1/services/{service}", tag = "services", summary = "Replace a service document", params(("service" = String, Path, description = "Service name")), request_body = DocumentWrite, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, Some(&service), None)?;
    let request: DocumentWrite = body.parse()?;
    if request.document.service != service {
        return Err(ApiError::bad_request(
            "name_mismatch",
            format!(
                "the document is for {:?}, the URL names {service:?}; renaming is not supported",
                request.document.service
            ),
        ));
    }
    let base = write::base_revision(&headers, request.base_revision)?;
    let change = write::commit(
        &state,
        &principal,
        Command::ReplaceService {
            doc: request.document,
            base,
        },
        &write::reason(request.reason)?,
    )
    .await?;
    Ok(written(StatusCode::OK, change))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ReasonQuery {
    /// Why, for the change log.
    #[serde(default)]
    pub(super) reason: Option<String>,
}

#[utoipa::path(delete, path = "/api/v1/services/{service}", tag = "services", summary = "Delete (tombstone) a service", params(("service" = String, Path, description = "Service name"), ReasonQuery), responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    headers: HeaderMap,
    Params(query): Params<ReasonQuery>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, Some(&service), None)?;
    let base = write::base_revision(&headers, None)?;
    let change = write::commit(
        &state,
        &principal,
        Command::DeleteService { service, base },
        &write::reason(query.reason)?,
    )
    .await?;
    Ok(written(StatusCode::OK, change))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/services/{service}/restore", tag = "services", summary = "Restore a deleted service", params(("service" = String, Path, description = "Service name")), request_body = ReasonBody, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, Some(&service), None)?;
    let request: ReasonBody = body.parse()?;
    let change = write::commit(
        &state,
        &principal,
        Command::RestoreService { service },
        &write::reason(request.reason)?,
    )
    .await?;
    Ok(written(StatusCode::OK, change))
}

#[utoipa::path(patch, path = "/api/v1/services/{service}/values/{environment}", tag = "services", summary = "Set and remove values of one environment", params(("service" = String, Path, description = "Service name"), ("environment" = String, Path, description = "Environment name")), request_body = ValuesPatch, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn patch_values(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, environment)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Edit, Some(&service), Some(&environment))?;
    let request: ValuesPatch = body.parse()?;
    if let Some(key) = request
        .remove_keys
        .iter()
        .find(|k| request.set.contains_key(*k))
    {
        return Err(ApiError::bad_request(
            "set_and_remove",
            format!("{key:?} is both set and removed"),
        ));
    }
    let base = write::base_revision(&headers, request.base_revision)?;
    let command = Command::PatchValues {
        service,
        environment,
        set: request.set,
        remove: request.remove_keys,
        base,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok(written(StatusCode::OK, change))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SchemaWrite {
    #[schema(value_type = Object)]
    schema: BTreeMap<String, KeySpec>,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/services/{service}/schema", tag = "services", summary = "Replace a schema", params(("service" = String, Path, description = "Service name")), request_body = SchemaWrite, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn put_schema(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, Some(&service), None)?;
    let request: SchemaWrite = body.parse()?;
    let base = write::base_revision(&headers, request.base_revision)?;
    let change = write::commit(
        &state,
        &principal,
        Command::PutSchema {
            service,
            schema: request.schema,
            base,
        },
        &write::reason(request.reason)?,
    )
    .await?;
    Ok(written(StatusCode::OK, change))
}

#[utoipa::path(put, path = "/api/v1/services/{service}/flags/{flag}", tag = "flags", summary = "Create or replace a flag", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key")), request_body = FlagWrite, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn put_flag(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, key)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Read, Some(&service), None)?;
    let request: FlagWrite = body.parse()?;
    let base = write::base_revision(&headers, request.base_revision)?;
    // Who may make this edit depends on what it changes, so it is judged
    // against the state at the base (which the writer checks is current).
    let record = write::record_at(&state.engine.world(), &principal, &service, base)?;
    let existing = record.doc.flags.get(&key);
    let mut flag = request.flag;
    if let (Some(mine), Some(existing)) = (&principal.environment, existing) {
        // A principal limited to one environment neither sees nor edits the
        // others' targeting: what it leaves out stays as it is.
        for (environment, targeting) in &existing.environments {
            if environment != mine {
                flag.environments
                    .entry(environment.clone())
                    .or_insert_with(|| targeting.clone());
            }
        }
    }
    match targeting_changes(existing, &flag) {
        Some(environments) if environments.is_empty() => {
            principal.require(Permission::Rollout, Some(&service), None)?;
        }
        Some(environments) => {
            for environment in &environments {
                principal.require(Permission::Rollout, Some(&service), Some(environment))?;
            }
        }
        None => principal.require(Permission::Edit, Some(&service), None)?,
    }
    let command = Command::PutFlag {
        service,
        key,
        flag,
        base,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok(written(StatusCode::OK, change))
}

#[utoipa::path(delete, path = "/api/v1/services/{service}/flags/{flag}", tag = "flags", summary = "Delete a flag", params(("service" = String, Path, description = "Service name"), ("flag" = String, Path, description = "Flag key"), ReasonQuery), responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn delete_flag(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, key)): PathParams<(String, String)>,
    headers: HeaderMap,
    Params(query): Params<ReasonQuery>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Edit, Some(&service), None)?;
    let base = write::base_revision(&headers, None)?;
    let change = write::commit(
        &state,
        &principal,
        Command::DeleteFlag { service, key, base },
        &write::reason(query.reason)?,
    )
    .await?;
    Ok(written(StatusCode::OK, change))
}

#[utoipa::path(get, path = "/api/v1/services/{service}/history", tag = "changes", summary = "A service's changes", params(("service" = String, Path, description = "Service name"), ChangeFilter), responses((status = 200, body = ChangePage), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn history(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(service): PathParams<String>,
    Params(filter): Params<ChangeFilter>,
) -> Result<Json<ChangePage>, ApiError> {
    principal.require(Permission::Read, Some(&service), None)?;
    let query = ChangeQuery {
        service: Some(service),
        ..store_query(filter)?
    };
    super::changes::page(&state, &principal, query)
        .await
        .map(Json)
}

/// The environments whose targeting `new` changes, when targeting is all
/// it changes of an existing flag — what the `rollout` role may do.
fn targeting_changes(existing: Option<&Flag>, new: &Flag) -> Option<Vec<String>> {
    let existing = existing?;
    let same_shape = existing.variants == new.variants
        && existing.off == new.off
        && existing.salt == new.salt
        && existing.description == new.description;
    if !same_shape {
        return None;
    }
    let changed: std::collections::BTreeSet<&String> = existing
        .environments
        .keys()
        .chain(new.environments.keys())
        .filter(|env| existing.environments.get(*env) != new.environments.get(*env))
        .collect();
    Some(changed.into_iter().cloned().collect())
}
