//! Serves the built console: its files, and `index.html` for every other
//! path so that client-side routes (`/services/checkout`) survive a reload.
//!
//! The wasm modules and their glue live under `/pkg/<content hash>/`
//! (scripts/console-wasm.sh): a file there never changes, so it is cached
//! for good, and a missing one is a `404`, never `index.html`. The console
//! fetches a page's module on its first visit, so a tab left open across an
//! upgrade asks for modules of the build it started with; it must fail
//! plainly (the page asks for a reload) rather than get HTML — or the new
//! build's module of the same name. Everything else is revalidated on each
//! load, so a new `index.html` (naming the new hash) is seen at once.

use std::path::Path;

use axum::{
    Router,
    http::{HeaderValue, header},
    middleware::map_response,
    response::{IntoResponse, Response},
};
use tower_http::services::{ServeDir, ServeFile};

use crate::ApiError;

/// Where the built modules live, below the console's directory.
const PKG: &str = "pkg";

/// A router serving the console from `dir`, or, when it was not built, a
/// clear `404` saying so.
pub fn router<S: Clone + Send + Sync + 'static>(dir: &Path) -> Router<S> {
    let index = dir.join("index.html");
    if !index.is_file() {
        return Router::new().fallback(|| async {
            ApiError::NotFound(
                "the console is not built; build it with `trunk build --release` (scripts/run does this)"
                    .into(),
            )
        });
    }
    let modules = ServeDir::new(dir.join(PKG)).fallback(tower::service_fn(|_| async {
        Ok::<_, std::convert::Infallible>(
            ApiError::NotFound(
                "no such console file: the console was rebuilt since this page loaded; reload it"
                    .into(),
            )
            .into_response(),
        )
    }));
    let assets = Router::new()
        .nest_service(&format!("/{PKG}"), modules)
        .layer(map_response(cache_for_good));
    let pages = Router::new()
        .fallback_service(ServeDir::new(dir).fallback(ServeFile::new(index)))
        .layer(map_response(revalidate));
    assets.merge(pages)
}

/// A file under a content hash never changes.
async fn cache_for_good(mut response: Response) -> Response {
    if response.status().is_success() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

/// `index.html` and the rest: use a cached copy only after asking.
async fn revalidate(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
