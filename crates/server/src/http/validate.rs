//! `POST /api/v1/validate`: a service document in, the core's verdict out —
//! the same check the console runs as you type and `setpoint validate` runs
//! in a team's CI.

use axum::{Json, extract::State};
use setpoint_core::{Limits, ServiceDoc, validate_document};

use setpoint_wire::Verdict;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody};
use crate::ApiError;

/// The validation route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(validate))
}

#[utoipa::path(post, path = "/api/v1/validate", tag = "validation", summary = "Validate a service document", request_body(content = Object, description = "A service document"), responses((status = 200, body = Verdict), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn validate(
    State(state): State<AppState>,
    body: JsonBody,
) -> Result<Json<Verdict>, ApiError> {
    let doc: ServiceDoc = body.parse()?;
    // Open to anyone: off the async workers, a few at a time.
    let (doc, violations) = state
        .admission
        .validate(move || {
            let violations = validate_document(&doc, &Limits::default());
            (doc, violations)
        })
        .await?;
    if violations.is_empty() {
        Ok(Json(Verdict {
            valid: true,
            service: doc.service,
        }))
    } else {
        Err(ApiError::Validation(violations))
    }
}
