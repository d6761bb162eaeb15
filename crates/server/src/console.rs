//! Serves the built console: its files, and `index.html` for every other
//! path so that client-side routes (`/services/checkout`) survive a reload.

use std::path::Path;

use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

use crate::ApiError;

/// A router serving the console from `dir`, or, when it was not built, a
/// clear `404` saying so.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let index = dir.join("index.html");
    if index.is_file() {
        Router::new().fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
    } else {
        Router::new().fallback(|| async {
            ApiError::NotFound(
                "the console is not built; build it with `trunk build --release` (scripts/run does this)"
                    .into(),
            )
        })
    }
}
