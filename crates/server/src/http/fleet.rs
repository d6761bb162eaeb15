//! The fleet: `POST /api/v1/fleet/reports` (agents), `GET /api/v1/fleet`
//! (where each cluster stands, cut to the reader's scope) and `DELETE
//! /api/v1/fleet/{environment}/{cluster}` (an admin forgets a cluster).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use setpoint_core::fleet::{AgentReport, ClusterStatus};

use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, Params, PathParams};
use crate::{
    ApiError,
    auth::{Permission, Principal, Visible},
    fleet::{ReportError, status},
    store::StoredReport,
};

/// The fleet routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(list))
        .routes(routes!(forget))
}

#[utoipa::path(post, path = "/api/v1/fleet/reports", tag = "fleet", summary = "An agent reports what it wrote (agent role)", description = "The body is an AgentReport: cluster, namespace, environment, services, written revision and checksum, sinks, last error, version and heartbeat_secs. The answer is the cluster's status as central sees it, with the revision it should run.", request_body = Object, responses((status = 200, description = "The cluster's status", body = ClusterStatus), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn report(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Json<ClusterStatus>, ApiError> {
    let mut report: AgentReport = body.parse()?;
    principal.require(Permission::ReportFleet, None, Some(&report.environment))?;
    report
        .check()
        .map_err(|message| ApiError::bad_request("invalid_report", message))?;
    if state
        .engine
        .snapshots()
        .current(&report.environment)
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "environment {:?} does not exist",
            report.environment
        )));
    }
    // An agent delivers at most what its token lets it read, whatever it
    // claims: the fleet view measures it against that.
    if let Some(scope) = &principal.services {
        let services = match report.services.take() {
            Some(claimed) => claimed.into_iter().filter(|s| scope.contains(s)).collect(),
            None => scope.clone(),
        };
        report.services = Some(services);
    }
    let now = state.engine.now();
    state
        .fleet
        .report(report.clone(), now)
        .await
        .map_err(|error| match error {
            ReportError::Store(error) => ApiError::from(error),
            ReportError::Full(_) => ApiError::Conflict {
                code: "fleet_full",
                message: error.to_string(),
                current: None,
            },
        })?;
    let stored = StoredReport {
        report,
        reported_at: now,
    };
    Ok(Json(status(&stored, state.engine.snapshots(), now)))
}

/// Which clusters to list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct FleetQuery {
    /// Only this environment.
    environment: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/fleet", tag = "fleet", summary = "Every cluster's agent: desired and written revision, lag, last report, state (in_sync, behind, failing, stale)", params(FleetQuery), responses((status = 200, description = "By environment, cluster and namespace", body = [ClusterStatus]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list(
    State(state): State<AppState>,
    principal: Principal,
    Params(query): Params<FleetQuery>,
) -> Result<Json<Vec<ClusterStatus>>, ApiError> {
    principal.require(Permission::Read, None, query.environment.as_deref())?;
    let statuses = state
        .fleet
        .statuses(state.engine.snapshots(), state.engine.now())
        .await?;
    Ok(Json(
        statuses
            .iter()
            .filter(|s| {
                query
                    .environment
                    .as_ref()
                    .is_none_or(|env| *env == s.report.environment)
            })
            .filter_map(|s| s.visible_to(&principal).map(std::borrow::Cow::into_owned))
            .collect(),
    ))
}

/// Which namespace of the cluster to forget.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ForgetQuery {
    /// The namespace; empty (the default) for a cluster-wide agent.
    #[serde(default)]
    namespace: String,
}

#[utoipa::path(delete, path = "/api/v1/fleet/{environment}/{cluster}", tag = "fleet", summary = "Forget a cluster's agent (it was torn down)", params(("environment" = String, Path, description = "Environment"), ("cluster" = String, Path, description = "Cluster"), ForgetQuery), responses((status = 204, description = "Forgotten"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn forget(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((environment, cluster)): PathParams<(String, String)>,
    Params(query): Params<ForgetQuery>,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, None, Some(&environment))?;
    if state
        .fleet
        .forget(&environment, &cluster, &query.namespace)
        .await?
    {
        tracing::info!(actor = %principal.actor, %environment, %cluster, namespace = %query.namespace, "fleet: cluster forgotten");
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound(format!(
            "no agent reports for cluster {cluster:?} (namespace {:?}) in {environment:?}",
            query.namespace
        )))
    }
}
