//! Who is calling: a bearer token (`Authorization: Bearer sp_<id>_<secret>`)
//! or a console session cookie. Session writes must also echo the session's
//! CSRF token in a header — a cross-site form cannot set headers, and
//! `SameSite=Strict` already keeps the cookie off cross-site requests.

use axum::{
    extract::FromRequestParts,
    http::{Method, header, request::Parts},
};
use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::{Principal, sha256_hex};
use crate::{ApiError, http::AppState};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "setpoint_session";
/// The header session writes must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let bearer = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| {
                    ApiError::Unauthenticated("use `Authorization: Bearer <token>`".into())
                })?;
            return from_token(state, bearer.trim()).await;
        }
        if let Some(secret) = cookie(parts, SESSION_COOKIE) {
            let principal = from_session(state, secret, parts).await?;
            return Ok(principal);
        }
        Err(ApiError::Unauthenticated(
            "log in (POST /api/v1/session) or send a bearer token".into(),
        ))
    }
}

/// The principal a token's bearer string (`sp_<id>_<secret>`) stands for.
pub async fn from_token(state: &AppState, bearer: &str) -> Result<Principal, ApiError> {
    let invalid = || {
        ApiError::Unauthenticated(
            "the token is not valid (revoked, mistyped or from another server)".into(),
        )
    };
    let (id, secret) = bearer
        .strip_prefix("sp_")
        .and_then(|rest| rest.split_once('_'))
        .ok_or_else(invalid)?;
    let token = if let Some(token) = state.tokens.get(id) {
        token
    } else {
        let token = Arc::new(state.accounts.token(id).await?.ok_or_else(invalid)?);
        state.tokens.put(Arc::clone(&token));
        token
    };
    if !same(&sha256_hex(secret), &token.secret_hash) {
        return Err(invalid());
    }
    Ok(Principal {
        actor: format!("token:{}", token.name),
        name: token.name.clone(),
        role: token.role,
        services: token.services.clone(),
        environment: token.environment.clone(),
    })
}

async fn from_session(
    state: &AppState,
    secret: &str,
    parts: &Parts,
) -> Result<Principal, ApiError> {
    let now = setpoint_core::time::format_timestamp(state.engine.now());
    let expired = || ApiError::Unauthenticated("the session has ended; log in again".into());
    let session = state
        .accounts
        .session(&sha256_hex(secret), &now)
        .await?
        .ok_or_else(expired)?;
    let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe {
        let echoed = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same(echoed, &session.csrf) {
            return Err(ApiError::Forbidden(format!(
                "writes from a console session need the `{CSRF_HEADER}` header from the login response"
            )));
        }
    }
    let user = state
        .accounts
        .user(&session.username)
        .await?
        .ok_or_else(expired)?;
    Ok(Principal {
        actor: format!("user:{}", user.username),
        name: user.username,
        role: user.role,
        services: user.services,
        environment: None,
    })
}
