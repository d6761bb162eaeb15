//! OpenFeature Remote Evaluation Protocol v1 (`/ofrep/v1/…`): single and
//! bulk evaluation, for OpenFeature's own providers. The protocol fixes
//! the error shape — `{key?, errorCode, errorDetails}` — so failures here
//! are [`ApiError`]s written in that shape rather than in the envelope.
//! What a caller sees and how keys are named: [`crate::ofrep`].

use std::sync::Arc;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use setpoint_core::{Context, ErrorCode};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use crate::{
    ApiError,
    auth::{Permission, Principal, from_token},
    ofrep::{self, Failure, Tally, View},
    snapshots::{EnvSnapshot, if_none_match},
};

/// The largest evaluation request: a context is a handful of attributes,
/// and every byte of it may be compared against every flag's rules.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The OFREP routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(evaluate_flag))
        .routes(routes!(evaluate_flags))
}

/// What OFREP providers send.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct EvaluationRequest {
    /// Attributes rules and splits read; `targetingKey` (a string) is what
    /// splits place by unless they name another attribute.
    #[serde(default)]
    #[schema(value_type = Object)]
    context: Option<Value>,
}

#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags/{key}", tag = "openfeature", summary = "OFREP: evaluate one flag for a context, in the token's environment", params(("key" = String, Path, description = "The flag: `service:flag`, or `flag` for a token limited to one service")), request_body = EvaluationRequest, responses((status = 200, description = "{key, value, reason, variant, metadata}", body = Object), (status = "4XX", description = "OFREP error: {key?, errorCode, errorDetails}", body = Object)))]
async fn evaluate_flag(
    State(state): State<AppState>,
    Caller(principal): Caller,
    key: Result<Path<String>, axum::extract::rejection::PathRejection>,
    body: EvaluationBody,
) -> Result<Response, OfrepError> {
    let Path(key) = key.map_err(|e| OfrepError::invalid(None, e.body_text()))?;
    let snapshot = environment(&state, &principal)?;
    let mut tally = Tally::default();
    let context = body.context().map_err(|e| e.for_key(&key))?;
    let answer = View::new(&snapshot, &principal).evaluate(&key, &context, &mut tally);
    state.engine.metrics().ofrep(&tally);
    let answer = answer.map_err(|failure| OfrepError::from_failure(Some(&key), failure))?;
    Ok(json(answer, None))
}

#[utoipa::path(post, path = "/ofrep/v1/evaluate/flags", tag = "openfeature", summary = "OFREP: evaluate every flag the token sees for a context (ETag; If-None-Match gives 304)", params(("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer to the same request")), request_body = EvaluationRequest, responses((status = 200, description = "{flags: [...], metadata}", body = Object), (status = 304, description = "Nothing the caller sees changed"), (status = "4XX", description = "OFREP error: {errorCode, errorDetails}", body = Object)))]
async fn evaluate_flags(
    State(state): State<AppState>,
    Caller(principal): Caller,
    headers: HeaderMap,
    body: EvaluationBody,
) -> Result<Response, OfrepError> {
    let snapshot = environment(&state, &principal)?;
    let view = View::new(&snapshot, &principal);
    let context = body.context()?;
    let etag = view.etag(&body.0);
    if if_none_match(&headers, &etag) {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        response.headers_mut().insert(header::ETAG, etag);
        return Ok(response);
    }
    let mut tally = Tally::default();
    let answer = view.bulk(&context, &mut tally);
    state.engine.metrics().ofrep(&tally);
    let answer = answer.map_err(|failure| OfrepError::from_failure(None, failure))?;
    Ok(json(answer, Some(etag)))
}

/// The caller's environment's snapshot: OFREP evaluates in exactly one, so
/// the principal must be limited to one.
fn environment(state: &AppState, principal: &Principal) -> Result<Arc<EnvSnapshot>, OfrepError> {
    let Some(environment) = principal.environment.as_deref() else {
        return Err(ApiError::Forbidden(format!(
            "{} is not limited to one environment: OFREP evaluates in the environment of a token created with `--environment`",
            principal.actor
        ))
        .into());
    };
    principal.require(Permission::ReadSnapshot, None, Some(environment))?;
    state
        .engine
        .snapshots()
        .current(environment)
        .ok_or_else(|| {
            ApiError::Forbidden(format!(
                "the token's environment {environment:?} does not exist"
            ))
            .into()
        })
}

fn json(body: Vec<u8>, etag: Option<HeaderValue>) -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(etag) = etag {
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag);
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    response
}

/// The authenticated caller, by `Authorization: Bearer` (or a session,
/// as everywhere) or by the token in `X-API-Key`, OFREP's other scheme;
/// failures answered in OFREP's shape before the body is read.
struct Caller(Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = OfrepError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let api_key = parts
            .headers
            .get(API_KEY)
            .filter(|_| !parts.headers.contains_key(header::AUTHORIZATION));
        let principal = match api_key {
            Some(key) => {
                let key = key
                    .to_str()
                    .map_err(|_| ApiError::Unauthenticated("`X-API-Key` is not a token".into()))?;
                from_token(state, key.trim()).await?
            }
            None => Principal::from_request_parts(parts, state).await?,
        };
        Ok(Self(principal))
    }
}

/// OFREP's API-key header.
const API_KEY: header::HeaderName = header::HeaderName::from_static("x-api-key");

/// An evaluation request's body, read up to [`MAX_REQUEST_BYTES`]. Its
/// bytes, not its parse, are what a bulk `ETag` covers: a provider polls
/// with the very same body.
struct EvaluationBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for EvaluationBody {
    type Rejection = OfrepError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES)
            .await
            .map(Self)
            .map_err(|_| {
                OfrepError::invalid(
                    None,
                    format!("the request is larger than {MAX_REQUEST_BYTES} bytes, or was cut off"),
                )
            })
    }
}

impl EvaluationBody {
    /// The context; an empty body is an empty context.
    fn context(&self) -> Result<Context, OfrepError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Ok(Context::new());
        }
        let request: EvaluationRequest =
            serde_json::from_slice(&self.0).map_err(|e| OfrepError {
                status: StatusCode::BAD_REQUEST,
                key: None,
                code: ErrorCode::ParseError,
                details: format!(
                    "the body is not an evaluation request ({{\"context\": {{…}}}}): {e}"
                ),
                retry_after: None,
            })?;
        ofrep::context(request.context).map_err(|e| OfrepError::invalid(None, e))
    }
}

/// A failure in OFREP's shape.
#[derive(Debug)]
pub struct OfrepError {
    status: StatusCode,
    key: Option<String>,
    code: ErrorCode,
    details: String,
    retry_after: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OfrepBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    error_code: &'a str,
    error_details: &'a str,
}

impl OfrepError {
    /// A `400 INVALID_CONTEXT`.
    fn invalid(key: Option<&str>, details: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            key: key.map(str::to_owned),
            code: ErrorCode::InvalidContext,
            details: details.into(),
            retry_after: None,
        }
    }

    fn for_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    fn from_failure(key: Option<&str>, failure: Failure) -> Self {
        Self {
            status: if failure.code == ErrorCode::FlagNotFound {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            },
            key: key.map(str::to_owned),
            code: failure.code,
            details: failure.details,
            retry_after: None,
        }
    }
}

impl From<ApiError> for OfrepError {
    fn from(error: ApiError) -> Self {
        let retry_after = match &error {
            ApiError::TooManyAttempts(seconds) => Some(*seconds),
            ApiError::Busy(_) => Some(1),
            _ => None,
        };
        let details = if let ApiError::Internal(cause) = &error {
            // The cause is for the operator's log, as everywhere.
            tracing::error!(error = %cause, "internal error");
            "internal error".to_string()
        } else {
            error.to_string()
        };
        Self {
            status: error.status(),
            key: None,
            code: ErrorCode::General,
            details,
            retry_after,
        }
    }
}

impl IntoResponse for OfrepError {
    fn into_response(self) -> Response {
        let body = OfrepBody {
            key: self.key.as_deref(),
            error_code: self.code.as_str(),
            error_details: &self.details,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
