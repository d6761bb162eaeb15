//! Sessions, the caller's identity, users and tokens.

use axum::{
    Json,
    extract::State,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use setpoint_core::{time::format_timestamp, validate::is_valid_name};

use setpoint_wire::{Login, Me, TokenView, UserChange, UserView};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{AppState, JsonBody, PathParams};
use crate::{
    ApiError,
    auth::{
        Permission, Principal, Role, SESSION_COOKIE, hash_password, new_secret, sha256_hex,
        verify_password,
    },
    store::{AccountWrite, Session, Token, User},
};

/// How long a console session lasts.
const SESSION_MILLIS: i64 = 12 * 3600 * 1000;

/// The people routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, logout))
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user, delete_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

fn session_cookie(secret: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[utoipa::path(post, path = "/api/v1/session", tag = "people", summary = "Log in", request_body = Login, responses((status = 200, body = Me), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn login(State(state): State<AppState>, body: JsonBody) -> Result<Response, ApiError> {
    let request: Login = body.parse()?;
    let shared = state
        .accounts
        .login_attempt(&request.username, state.engine.now())
        .await?;
    shared
        .unwrap_or_else(|| state.limiter.attempt(&request.username))
        .map_err(ApiError::TooManyAttempts)?;
    let user = state.accounts.user(&request.username).await?;
    // Verify even for unknown users, so timing does not reveal which exist.
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.clone(), |u| u.password_hash.clone());
    let password = request.password.clone();
    let matches = state
        .admission
        .check_password(move || verify_password(&password, &hash))
        .await?;
    let Some(user) = user.filter(|_| matches) else {
        return Err(ApiError::Unauthenticated(
            "wrong user name or password".into(),
        ));
    };
    state.limiter.succeeded(&user.username);
    state.accounts.login_succeeded(&user.username).await?;
    let secret = new_secret();
    let csrf = new_secret();
    let now = state.engine.now();
    state
        .accounts
        .put_session(&Session {
            id_hash: sha256_hex(&secret),
            username: user.username.clone(),
            csrf: csrf.clone(),
            expires_at: format_timestamp(now + SESSION_MILLIS),
        })
        .await?;
    let me = Me {
        actor: format!("user:{}", user.username),
        name: user.username,
        role: user.role,
        services: user.services,
        environment: None,
        csrf_token: Some(csrf),
    };
    let mut response = (StatusCode::OK, Json(me)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&secret, SESSION_MILLIS / 1000, state.secure_cookies),
    );
    Ok(response)
}

/// A hash of a random password, verified against for unknown users.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password(&new_secret()));

#[utoipa::path(delete, path = "/api/v1/session", tag = "people", summary = "Log out", responses((status = 204, description = "Logged out")))]
async fn logout(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
) -> Result<Response, ApiError> {
    if let Some(secret) = crate::auth::extract_cookie(&parts, SESSION_COOKIE) {
        let now = format_timestamp(state.engine.now());
        state
            .accounts
            .delete_session(&sha256_hex(secret), &now)
            .await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, state.secure_cookies),
    );
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/me", tag = "people", summary = "Who the caller is", responses((status = 200, body = Me), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn me(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    principal: Principal,
) -> Result<Json<Me>, ApiError> {
    let csrf_token = match crate::auth::extract_cookie(&parts, SESSION_COOKIE) {
        Some(secret) if parts.headers.get(header::AUTHORIZATION).is_none() => {
            let now = format_timestamp(state.engine.now());
            state
                .accounts
                .session(&sha256_hex(secret), &now)
                .await?
                .map(|s| s.csrf)
        }
        _ => None,
    };
    Ok(Json(Me {
        actor: principal.actor,
        name: principal.name,
        role: principal.role,
        services: principal.services,
        environment: principal.environment,
        csrf_token,
    }))
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            username: user.username,
            role: user.role,
            services: user.services,
            created_at: user.created_at,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/users", tag = "people", summary = "List users", responses((status = 200, body = [UserView]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<UserView>>, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    Ok(Json(
        state
            .accounts
            .users()
            .await?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    username: String,
    password: String,
    #[schema(value_type = String, example = "editor")]
    role: Role,
    #[serde(default)]
    services: Option<Vec<String>>,
}

/// The rules a new password must meet.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 12 {
        return Err(ApiError::bad_request(
            "weak_password",
            "a password needs at least 12 characters",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/users", tag = "people", summary = "Create a user", request_body = NewUser, responses((status = 201, body = UserView), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    let request: NewUser = body.parse()?;
    if !is_valid_name(&request.username) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a user name is 1–128 letters, digits, '.', '_' or '-'",
        ));
    }
    check_password(&request.password)?;
    if request.role.is_machine() {
        return Err(ApiError::bad_request(
            "machine_role",
            format!(
                "{} is a role for tokens (machines), not for people",
                request.role.as_str()
            ),
        ));
    }
    if state.accounts.user(&request.username).await?.is_some() {
        return Err(ApiError::Conflict {
            code: "already_exists",
            message: format!("user {:?} exists", request.username),
            current: None,
        });
    }
    let password = request.password;
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))?;
    let user = User {
        username: request.username,
        password_hash,
        role: request.role,
        services: request.services,
        created_at: format_timestamp(state.engine.now()),
    };
    state
        .engine
        .write_account(AccountWrite::PutUser(user.clone()), &principal.actor, "")
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(user))).into_response())
}

#[utoipa::path(patch, path = "/api/v1/users/{username}", tag = "people", summary = "Change a user's role or services, or reset their password, ending their sessions", params(("username" = String, Path, description = "User name")), request_body = UserChange, responses((status = 200, body = UserView), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(username): PathParams<String>,
    body: JsonBody,
) -> Result<Json<UserView>, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    let change: UserChange = body.parse()?;
    let mut user = state
        .accounts
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username:?} does not exist")))?;
    let own = principal.actor == format!("user:{username}");
    if own && (change.role.is_some() || change.services.is_some()) {
        return Err(ApiError::Conflict {
            code: "own_account",
            message: "you cannot change your own role or services; ask another admin".into(),
            current: None,
        });
    }
    if let Some(role) = change.role {
        if role.is_machine() {
            return Err(ApiError::bad_request(
                "machine_role",
                format!(
                    "{} is a role for tokens (machines), not for people",
                    role.as_str()
                ),
            ));
        }
        user.role = role;
    }
    if let Some(services) = change.services {
        user.services = services;
    }
    if let Some(password) = change.password {
        check_password(&password)?;
        user.password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
    }
    // Saving ends the user's sessions: a login must not outlive the role
    // or password it was made with.
    state
        .engine
        .write_account(AccountWrite::PutUser(user.clone()), &principal.actor, "")
        .await?;
    Ok(Json(UserView::from(user)))
}

#[utoipa::path(delete, path = "/api/v1/users/{username}", tag = "people", summary = "Delete a user, ending their sessions", params(("username" = String, Path, description = "User name")), responses((status = 204, description = "Deleted"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(username): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    if principal.actor == format!("user:{username}") {
        return Err(ApiError::Conflict {
            code: "own_account",
            message: "you cannot delete yourself; ask another admin".into(),
            current: None,
        });
    }
    let user = state
        .accounts
        .user(&username)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {username:?} does not exist")))?;
    state
        .engine
        .write_account(AccountWrite::DeleteUser(user), &principal.actor, "")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<Token> for TokenView {
    fn from(token: Token) -> Self {
        Self {
            id: token.id,
            name: token.name,
            role: token.role,
            services: token.services,
            environment: token.environment,
            created_by: token.created_by,
            created_at: token.created_at,
            token: None,
        }
    }
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "people", summary = "List tokens", responses((status = 200, body = [TokenView]), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    Ok(Json(
        state
            .accounts
            .tokens()
            .await?
            .into_iter()
            .map(TokenView::from)
            .collect(),
    ))
}

/// A token request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for.
    pub name: String,
    /// Its role.
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
    /// Services it may act on; absent for all.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// The one environment it may act in.
    #[serde(default)]
    pub environment: Option<String>,
}

/// A new token's record and its bearer string (shown once), not yet stored:
/// the caller writes it with its change-log entry.
pub fn new_token(request: NewToken, created_by: &str) -> Result<(Token, String), ApiError> {
    if !is_valid_name(&request.name) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a token name is 1–128 letters, digits, '.', '_' or '-'",
        ));
    }
    if request.role == Role::Agent && request.environment.is_none() {
        return Err(ApiError::bad_request(
            "agent_needs_environment",
            "an agent token follows one environment: give `environment`",
        ));
    }
    let id = new_secret()[..16].to_string();
    let secret = new_secret();
    let token = Token {
        id: id.clone(),
        name: request.name,
        secret_hash: sha256_hex(&secret),
        role: request.role,
        services: request.services,
        environment: request.environment,
        created_by: created_by.to_string(),
        created_at: format_timestamp(crate::engine::now_millis()),
    };
    Ok((token, format!("sp_{id}_{secret}")))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "people", summary = "Create a token (shown once)", request_body = NewToken, responses((status = 201, body = TokenView), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    body: JsonBody,
) -> Result<Response, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    let request: NewToken = body.parse()?;
    let (token, bearer) = new_token(request, &principal.actor)?;
    state
        .engine
        .write_account(AccountWrite::PutToken(token.clone()), &principal.actor, "")
        .await?;
    let view = TokenView {
        token: Some(bearer),
        ..TokenView::from(token)
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people", summary = "Revoke a token", params(("id" = String, Path, description = "Token id")), responses((status = 204, description = "Revoked"), (status = "4XX", description = "Error envelope", body = setpoint_wire::ErrorEnvelope)))]
async fn revoke_token(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Permission::Administer, None, None)?;
    let token = state
        .accounts
        .token(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("token {id:?} does not exist")))?;
    state
        .engine
        .write_account(AccountWrite::DeleteToken(token), &principal.actor, "")
        .await?;
    // After the commit: a request between the two would re-cache it.
    state.tokens.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
