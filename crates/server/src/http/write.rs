//! What every write request carries besides its payload: the revision it
//! was based on and a reason.

use axum::http::{HeaderMap, header};

use crate::ApiError;

/// The base revision of a write: `If-Match: "N"` or the body's
/// `base_revision`. One is required; when both are given they must agree.
pub fn base_revision(headers: &HeaderMap, body: Option<u64>) -> Result<u64, ApiError> {
    let header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => {
            let text = value.to_str().unwrap_or_default().trim();
            let text = text.strip_prefix("W/").unwrap_or(text).trim_matches('"');
            Some(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_if_match",
                    format!("If-Match must be a revision such as \"12\", not {text:?}"),
                )
            })?)
        }
    };
    match (header, body) {
        (Some(h), Some(b)) if h != b => Err(ApiError::bad_request(
            "conflicting_base_revision",
            format!("If-Match says revision {h} but base_revision says {b}"),
        )),
        (Some(revision), _) | (None, Some(revision)) => Ok(revision),
        (None, None) => Err(ApiError::bad_request(
            "missing_base_revision",
            "say which revision the edit is based on: `If-Match: \"N\"` or `base_revision` in the body",
        )),
    }
}

/// A reason, trimmed; at most 1,000 characters.
pub fn reason(text: Option<String>) -> Result<String, ApiError> {
    let text = text.unwrap_or_default().trim().to_string();
    if text.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "reason_too_long",
            "a reason is at most 1,000 characters",
        ));
    }
    Ok(text)
}
