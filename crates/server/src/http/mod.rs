//! The HTTP API, cut by domain. Each module owns its routes, wire types and
//! handlers; [`app`] merges them, adds the body limit and the fallbacks.

mod changes;
mod environments;
mod events;
mod extract;
mod health;
mod people;
mod rollback;
mod services;
mod snapshots;
pub mod transfer;
mod validate;
mod write;

use std::{path::PathBuf, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit};

use crate::{ApiError, auth::LoginLimiter, console, engine::Engine, store::Accounts};

pub use extract::{JsonBody, MAX_BODY_BYTES, Params, PathParams};
pub use people::{NewToken, issue_token};

/// Shared state of every handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The engine: state, writes, snapshots, change stream.
    pub engine: Arc<Engine>,
    /// Users, tokens and sessions.
    pub accounts: Arc<dyn Accounts>,
    /// Failed-login throttling.
    pub limiter: Arc<LoginLimiter>,
    /// Whether session cookies are marked `Secure` (behind TLS).
    pub secure_cookies: bool,
    console_dir: Arc<PathBuf>,
}

impl AppState {
    /// State over `engine` and `accounts`, serving the console built into
    /// `console_dir`.
    pub fn new(engine: Arc<Engine>, accounts: Arc<dyn Accounts>, console_dir: PathBuf) -> Self {
        Self {
            engine,
            accounts,
            limiter: Arc::new(LoginLimiter::default()),
            secure_cookies: false,
            console_dir: Arc::new(console_dir),
        }
    }
}

/// The whole application: `/api/v1/*`, `/healthz` and the console.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .merge(validate::router())
        .merge(environments::router())
        .merge(services::router())
        .merge(changes::router())
        .merge(snapshots::router())
        .merge(events::router())
        .merge(people::router())
        .merge(rollback::router())
        .merge(transfer::router())
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(console::router(&state.console_dir))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::count_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
