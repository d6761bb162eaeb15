//! `POST /api/v1/validate`: a service document in, the core's verdict out —
//! the same check the console runs as you type and `setpoint validate` runs
//! in a team's CI.

use axum::{Json, Router, routing::post};
use serde::Serialize;
use setpoint_core::{Limits, ServiceDoc, validate_document};

use super::{AppState, JsonBody};
use crate::ApiError;

/// The validation route.
pub fn router() -> Router<AppState> {
    Router::new().route("/validate", post(validate))
}

/// A valid document's verdict. Invalid ones get `422` with the violations.
#[derive(Debug, Serialize)]
struct Verdict {
    valid: bool,
    service: String,
}

async fn validate(body: JsonBody) -> Result<Json<Verdict>, ApiError> {
    let doc: ServiceDoc = body.parse()?;
    let violations = validate_document(&doc, &Limits::default());
    if violations.is_empty() {
        Ok(Json(Verdict {
            valid: true,
            service: doc.service,
        }))
    } else {
        Err(ApiError::Validation(violations))
    }
}
