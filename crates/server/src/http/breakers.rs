//! Circuit breakers: definitions, the board of an environment, trips and
//! closes by operators, the Alertmanager webhook, unrouted alerts.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use setpoint_core::{
    Breaker, Change, ClosePolicy, FieldPath, Violation, ViolationKind,
    breaker::{Alert, AlertStatus, BreakerStatus, routes},
    time::parse_timestamp,
};
use setpoint_wire::{BreakerStep, BreakerView};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, Params, PathParams, write};
use crate::{
    ApiError,
    auth::{Permission, Principal, sha256_hex},
    world::{AlertScope, BreakerOp, Command, UnroutedAlert, World, board, unrouted_newest_first},
};

/// The breaker routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_breaker, delete_breaker))
        .routes(routes!(trip))
        .routes(routes!(close))
        .routes(routes!(environment_board))
        .routes(routes!(unrouted))
        .routes(routes!(alertmanager))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct BreakerWrite {
    #[schema(value_type = Object)]
    #[serde(deserialize_with = "super::extract::object")]
    breaker: Breaker,
    #[serde(default)]
    base_revision: Option<u64>,
    #[serde(default)]
    reason: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/services/{service}/breakers/{breaker}", tag = "breakers", summary = "Create or replace a breaker definition", params(("service" = String, Path, description = "Service name"), ("breaker" = String, Path, description = "Breaker name")), request_body = BreakerWrite, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn put_breaker(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Operate, Some(&service), None)?;
    let request: BreakerWrite = body.parse()?;
    let base = write::base_revision(&headers, request.base_revision)?;
    let command = Command::PutBreaker {
        service,
        name,
        breaker: request.breaker,
        base,
    };
    let change =
        write::commit(&state, &principal, command, &write::reason(request.reason)?).await?;
    Ok(Json(change))
}

#[utoipa::path(delete, path = "/api/v1/services/{service}/breakers/{breaker}", tag = "breakers", summary = "Delete a breaker definition", params(("service" = String, Path, description = "Service name"), ("breaker" = String, Path, description = "Breaker name"), super::services::ReasonQuery), responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn delete_breaker(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, name)): PathParams<(String, String)>,
    headers: HeaderMap,
    Params(query): Params<super::services::ReasonQuery>,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Operate, Some(&service), None)?;
    let base = write::base_revision(&headers, None)?;
    let change = write::commit(
        &state,
        &principal,
        Command::DeleteBreaker {
            service,
            name,
            base,
        },
        &write::reason(query.reason)?,
    )
    .await?;
    Ok(Json(change))
}

fn required_reason(text: String) -> Result<String, ApiError> {
    let reason = write::reason(Some(text))?;
    if reason.is_empty() {
        return Err(ApiError::bad_request(
            "reason_required",
            "say why: a breaker is tripped or closed with a reason",
        ));
    }
    Ok(reason)
}

#[utoipa::path(post, path = "/api/v1/services/{service}/breakers/{breaker}/environments/{environment}/trip", tag = "breakers", summary = "Open a breaker by hand", params(("service" = String, Path, description = "Service name"), ("breaker" = String, Path, description = "Breaker name"), ("environment" = String, Path, description = "Environment")), request_body = BreakerStep, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 breaker_state when already open)", body = setpoint_wire::ErrorEnvelope)))]
async fn trip(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, name, environment)): PathParams<(String, String, String)>,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Operate, Some(&service), Some(&environment))?;
    let request: BreakerStep = body.parse()?;
    let reason = required_reason(request.reason)?;
    operate(
        &state,
        &principal,
        service,
        name,
        environment,
        BreakerOp::Trip,
        &reason,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/services/{service}/breakers/{breaker}/environments/{environment}/close", tag = "breakers", summary = "Close a breaker (confirms awaiting_close)", params(("service" = String, Path, description = "Service name"), ("breaker" = String, Path, description = "Breaker name"), ("environment" = String, Path, description = "Environment")), request_body = BreakerStep, responses((status = 200, description = "The change", body = Change), (status = "4XX", description = "Error envelope (409 breaker_state when closed, or alerts still fire without force)", body = setpoint_wire::ErrorEnvelope)))]
async fn close(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((service, name, environment)): PathParams<(String, String, String)>,
    body: JsonBody,
) -> Result<Json<Change>, ApiError> {
    principal.require(Permission::Operate, Some(&service), Some(&environment))?;
    let request: BreakerStep = body.parse()?;
    let reason = required_reason(request.reason)?;
    let op = BreakerOp::Close {
        force: request.force,
    };
    operate(&state, &principal, service, name, environment, op, &reason).await
}

async fn operate(
    state: &AppState,
    principal: &Principal,
    service: String,
    name: String,
    environment: String,
    op: BreakerOp,
    reason: &str,
) -> Result<Json<Change>, ApiError> {
    let command = Command::OperateBreaker {
        service,
        name,
        environment,
        op,
    };
    // The breaker's transition comes first; rollouts it guards may follow.
    let change = write::commit_all(state, principal, vec![command], reason)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            ApiError::Internal("the write logged no change the writer may see".into())
        })?;
    Ok(Json(change))
}

fn view(
    service: String,
    name: String,
    breaker: &Breaker,
    status: BreakerStatus,
    now: i64,
) -> BreakerView {
    let trips_in_window = status.trips_in_window(&breaker.flapping, now);
    let flapping = status.flapping(&breaker.flapping, now);
    BreakerView {
        service,
        breaker: name,
        description: breaker.description.clone(),
        state: status.state,
        since: status.since,
        cause: status.cause,
        firing: status.firing.into_values().collect(),
        close_at: status.close_at,
        close_policy: match &breaker.close {
            ClosePolicy::Manual => "manual".into(),
            ClosePolicy::AutoAfter(delay) => format!("auto_after {delay}"),
        },
        trips_on: breaker.trips_on.clone(),
        trips_in_window,
        flap_window: breaker.flapping.window.clone(),
        flapping,
        trips: status.trips,
    }
}

#[utoipa::path(get, path = "/api/v1/environments/{environment}/breakers", tag = "breakers", summary = "Every breaker of an environment with its state", params(("environment" = String, Path, description = "Environment")), responses((status = 200, body = [BreakerView]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn environment_board(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(environment): PathParams<String>,
) -> Result<Json<Vec<BreakerView>>, ApiError> {
    principal.require(Permission::Read, None, Some(&environment))?;
    let world = state.engine.world();
    if !world.environments.contains_key(&environment) {
        return Err(ApiError::NotFound(format!(
            "environment {environment:?} does not exist"
        )));
    }
    let now = state.engine.now();
    let views = board(&world, &environment)
        .into_iter()
        .filter(|((service, _), _)| principal.sees_service(service))
        .map(|((service, name), status)| {
            let breaker = &world.services[&service].doc.breakers[&name];
            view(service, name, breaker, status, now)
        })
        .collect();
    Ok(Json(views))
}

#[utoipa::path(get, path = "/api/v1/alerts/unrouted", tag = "breakers", summary = "Alerts that matched no breaker, newest first", responses((status = 200, body = [UnroutedAlert]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn unrouted(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<UnroutedAlert>>, ApiError> {
    principal.require(Permission::Read, None, None)?;
    // An alert no breaker claimed belongs to no service: only principals
    // who see everything see it.
    if !principal.sees_everything() {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(unrouted_newest_first(&state.engine.world())))
}

/// Alertmanager's webhook payload (version 4). Fields Setpoint does not use
/// are accepted and ignored, as Alertmanager may add more.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
struct WebhookPayload {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    receiver: String,
    #[schema(value_type = Vec<Object>)]
    alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert {
    status: String,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// What the webhook did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct WebhookOutcome {
    /// Alerts in the payload.
    received: usize,
    /// Breaker transitions they caused (already-open breakers and
    /// duplicates cause none).
    #[schema(value_type = Vec<Object>)]
    transitions: Vec<Change>,
    /// Alerts that matched no breaker.
    unrouted: usize,
}

/// The alerts of a payload, checked: every problem is reported at once.
fn alerts_of(payload: WebhookPayload) -> Result<Vec<Alert>, ApiError> {
    if let Some(version) = payload.version.as_deref().filter(|v| *v != "4") {
        return Err(ApiError::bad_request(
            "unsupported_version",
            format!(
                "webhook payload version {version:?} is not supported (Setpoint reads version 4)"
            ),
        ));
    }
    let mut problems = Vec::new();
    let mut alerts = Vec::with_capacity(payload.alerts.len());
    for (i, alert) in payload.alerts.into_iter().enumerate() {
        let at = FieldPath::root().key("alerts").index(i);
        let status = match alert.status.as_str() {
            "firing" => Some(AlertStatus::Firing),
            "resolved" => Some(AlertStatus::Resolved),
            other => {
                problems.push(Violation::new(
                    at.key("status"),
                    ViolationKind::NotInEnum {
                        value: other.into(),
                        allowed: vec!["firing".into(), "resolved".into()],
                    },
                ));
                None
            }
        };
        if let Err(reason) = parse_timestamp(&alert.starts_at) {
            problems.push(Violation::new(
                at.key("startsAt"),
                ViolationKind::Structure(reason),
            ));
        }
        let fingerprint = alert
            .fingerprint
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| label_fingerprint(&alert.labels));
        if let Some(status) = status {
            alerts.push(Alert {
                fingerprint,
                status,
                labels: alert.labels,
                annotations: alert.annotations,
                starts_at: alert.starts_at,
                generator_url: alert.generator_url,
            });
        }
    }
    if problems.is_empty() {
        Ok(alerts)
    } else {
        Err(ApiError::BadRequest {
            code: "invalid_alerts",
            message: problems
                .first()
                .map_or_else(String::new, ToString::to_string),
            details: problems,
        })
    }
}

/// How many of `alerts` match no breaker in `world`.
fn count_unrouted(world: &World, alerts: &[Alert]) -> usize {
    let environments = world.environment_names();
    alerts
        .iter()
        .filter(|alert| {
            world
                .services
                .values()
                .filter(|r| r.tombstone.is_none())
                .all(|r| routes(&r.doc, alert, &environments).is_empty())
        })
        .count()
}

/// A stable fingerprint from the labels, for senders that give none.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut text = String::new();
    for (name, value) in labels {
        text.push_str(name);
        text.push('\u{ff}');
        text.push_str(value);
        text.push('\u{ff}');
    }
    sha256_hex(&text)[..16].to_string()
}

#[utoipa::path(post, path = "/api/v1/hooks/alertmanager", tag = "breakers", summary = "Alertmanager webhook (webhook_config, payload version 4)", description = "Needs a bearer token with the alert_source role. A firing alert opens every breaker it matches; a resolved one moves them to awaiting_close (or closes them under auto_after) once no matching alert fires. State follows each alert's status, never endsAt.", request_body = WebhookPayload, responses((status = 200, body = WebhookOutcome), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn alertmanager(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::ReceiveAlerts, None, None)?;
    let payload: WebhookPayload = body.parse()?;
    let receiver = payload.receiver.clone();
    let alerts = alerts_of(payload)?;
    let count = alerts.len();
    let unrouted = count_unrouted(&state.engine.world(), &alerts);
    let transitions = state
        .engine
        .write_all(
            vec![Command::Alerts {
                alerts,
                receiver,
                scope: AlertScope {
                    services: principal.services.clone(),
                    environment: principal.environment.clone(),
                },
            }],
            &principal.actor,
            "",
        )
        .await?;
    Ok((
        StatusCode::OK,
        Json(WebhookOutcome {
            received: count,
            transitions,
            unrouted,
        }),
    )
        .into_response())
}
