//! Liveness for load balancers and orchestrators.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

use super::AppState;

/// `GET /healthz`.
pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}
