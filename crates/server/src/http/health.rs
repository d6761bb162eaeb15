//! Liveness, readiness and metrics, for load balancers and Prometheus.

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

use super::AppState;
use crate::{ApiError, metrics::Gauges};
use setpoint_core::BreakerState;

/// `GET /healthz`, `GET /readyz`, `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// Alive: the process answers.
async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// How far behind the other replicas one may fall and still be ready: it
/// checks every second.
const MAX_FOLLOW_LAG: std::time::Duration = std::time::Duration::from_secs(5);

/// Ready: the store answers, so writes and history reads can succeed, and
/// a replica has read the others' commits lately.
async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state.engine.store().ping().await.map_err(|error| {
        // The cause is for the operator's log, not for whoever asks.
        tracing::warn!(%error, "not ready: the store does not answer");
        ApiError::Unavailable("the store does not answer".into())
    })?;
    if let Some(lag) = state
        .engine
        .follow_lag()
        .filter(|lag| *lag > MAX_FOLLOW_LAG)
    {
        tracing::warn!(?lag, "not ready: behind the other replicas");
        return Err(ApiError::Unavailable(format!(
            "catching up with the other replicas (last caught up {}s ago)",
            lag.as_secs()
        )));
    }
    Ok(Json(
        json!({"status": "ready", "revision": state.engine.world().revision}),
    ))
}

async fn metrics(State(state): State<AppState>) -> Response {
    let world = state.engine.world();
    let revisions: Vec<(String, u64)> = world
        .environments
        .keys()
        .filter_map(|env| {
            state
                .engine
                .snapshots()
                .current(env)
                .map(|s| (env.clone(), s.revision))
        })
        .collect();
    let mut breakers = Vec::new();
    for env in world.environments.keys() {
        let mut counts = [0usize; 3];
        for status in crate::world::board(&world, env).values() {
            counts[match status.state {
                BreakerState::Closed => 0,
                BreakerState::Open => 1,
                BreakerState::AwaitingClose => 2,
            }] += 1;
        }
        for (state, count) in ["closed", "open", "awaiting_close"].into_iter().zip(counts) {
            breakers.push((env.clone(), state, count));
        }
    }
    // A store that cannot be read leaves the fleet out, not the metrics.
    let fleet = state
        .fleet
        .statuses(state.engine.snapshots(), state.engine.now())
        .await
        .map(|statuses| crate::fleet::tally(&statuses))
        .unwrap_or_default();
    let gauges = Gauges {
        revisions,
        breakers,
        unrouted: world.unrouted.len(),
        fleet,
    };
    let body = state.engine.metrics().render(&gauges);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

/// Counts every answered request by its route pattern (not its path, so
/// that service names do not explode the series).
pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // The matched pattern is an `Arc<str>` inside; cloning it is cheap.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let response = next.run(request).await;
    state.engine.metrics().request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        &method,
        response.status().as_u16(),
    );
    response
}
