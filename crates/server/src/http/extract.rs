//! Extractors whose failures are answered in the error envelope: bodies
//! (size-limited, JSON-checked), query strings and path parameters.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{header, request::Parts},
};
use serde::de::DeserializeOwned;
use setpoint_core::{Violation, validate::parse};

use crate::ApiError;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A JSON body as text, checked to be UTF-8 and within the size limit. The
/// handler parses it with the core, so syntax errors carry a line and column.
#[derive(Debug)]
pub struct JsonBody(pub String);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        Self::read(request, MAX_BODY_BYTES).await
    }
}

impl JsonBody {
    /// Reads the body of `request` if it is JSON of at most `limit` bytes.
    /// For a route that accepts more than [`MAX_BODY_BYTES`]: it calls this
    /// once it knows the principal may send that much.
    pub async fn read(request: Request, limit: usize) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim();
                mime.eq_ignore_ascii_case("application/json")
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::BadRequest {
                code: "unsupported_content_type",
                message: "send the body as JSON with `Content-Type: application/json`".into(),
                details: Vec::new(),
            });
        }
        // Not the `DefaultBodyLimit` the router sets: `limit` is this call's.
        let bytes = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|error| {
                let too_large = std::error::Error::source(&error)
                    .is_some_and(<dyn std::error::Error>::is::<http_body_util::LengthLimitError>);
                if too_large {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::bad_request("unreadable_body", error.to_string())
                }
            })?;
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| ApiError::bad_request("invalid_utf8", "the body is not valid UTF-8"))?;
        Ok(Self(text))
    }

    /// Parses the body into `T`: syntax and shape errors (unknown fields,
    /// wrong types) are a `400` whose detail says where.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse(&self.0).map_err(malformed)
    }
}

fn malformed(details: Vec<Violation>) -> ApiError {
    let message = details
        .first()
        .map_or_else(|| "malformed JSON".to_string(), ToString::to_string);
    ApiError::BadRequest {
        code: "malformed_json",
        message,
        details,
    }
}

/// A query string parsed into `T` (which should deny unknown fields);
/// malformed ones are a `400 invalid_query` that says what is wrong.
#[derive(Debug)]
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// Path parameters parsed into `T`; failures are a `400 invalid_path`.
#[derive(Debug)]
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

/// Reads a struct from a JSON object only. serde's derive also reads a
/// struct from an array — `"breaker": []` would be a breaker of all
/// defaults — which no client means; use with `deserialize_with`.
pub fn object<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::{Deserialize as _, de::Error as _};
    let object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
    T::deserialize(serde_json::Value::Object(object)).map_err(D::Error::custom)
}
