//! The HTTP API, cut by domain. Each module owns its routes, wire types and
//! handlers; [`app`] merges them, adds the body limit and the fallbacks.

mod body;
mod health;
mod validate;

use std::{path::PathBuf, sync::Arc};

use axum::{Router, extract::DefaultBodyLimit};

use crate::{ApiError, console};

pub use body::{JsonBody, MAX_BODY_BYTES};

/// Shared state of every handler. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    console_dir: PathBuf,
}

impl AppState {
    /// State serving the console built into `console_dir`.
    pub fn new(console_dir: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner { console_dir }),
        }
    }
}

/// The whole application: `/api/v1/*`, `/healthz` and the console.
pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .merge(validate::router())
        .fallback(|| async { ApiError::NotFound("no such API route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(console::router(&state.inner.console_dir))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
