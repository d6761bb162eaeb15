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
//!
//! The build writes every file also as brotli and gzip
//! (scripts/precompress.mjs); a browser gets the smallest it accepts, as
//! compressed once at build time at the highest levels, and every answer
//! says it varies by `Accept-Encoding` so that caches keep them apart.

use std::path::Path;

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, header},
    middleware::{Next, from_fn, map_response},
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
    let modules =
        precompressed(ServeDir::new(dir.join(PKG))).fallback(tower::service_fn(|_| async {
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
    let html = std::fs::read_to_string(&index).unwrap_or_default();
    let policy = content_security_policy(&html);
    let policy = HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static(
        "default-src 'self'; frame-ancestors 'none'",
    ));
    let pages = Router::new()
        .fallback_service(
            precompressed(ServeDir::new(dir)).fallback(
                ServeFile::new(index)
                    .precompressed_br()
                    .precompressed_gzip(),
            ),
        )
        .layer(map_response(revalidate))
        .layer(map_response(move |response| {
            let policy = policy.clone();
            async move { protect(response, policy) }
        }))
        .layer(from_fn(no_such_file));
    assets.merge(pages).layer(map_response(vary_by_encoding))
}

/// Serves `file.br` or `file.gz` for `file` when the browser accepts it.
fn precompressed<F>(files: ServeDir<F>) -> ServeDir<F> {
    files.precompressed_br().precompressed_gzip()
}

/// The same path answers differently by `Accept-Encoding`; tower-http's
/// precompressed files do not say so themselves.
async fn vary_by_encoding(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

/// The longest path the console serves files for: past it (or past a
/// file system's 255-byte name) no file exists, and asking the file system
/// would only fail (`ENAMETOOLONG`).
const MAX_PATH_BYTES: usize = 1024;

/// A `404` for paths no file can have, before the file system is asked.
async fn no_such_file(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path.len() > MAX_PATH_BYTES || path.split('/').any(|segment| segment.len() > 255) {
        return ApiError::NotFound("no such page".into()).into_response();
    }
    next.run(request).await
}

/// The console's page answers carry a Content-Security-Policy: scripts
/// only from this origin (plus the loader `index.html` holds inline, by
/// its hash) and wasm, no framing, no plugins.
fn protect(mut response: Response, policy: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The policy for a console whose `index.html` is `html`: each inline
/// `<script>` is allowed by its sha256, nothing else inline.
pub fn content_security_policy(html: &str) -> String {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    use std::fmt::Write as _;
    let mut hashes = String::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let Some(open_end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start..start + open_end];
        let body_start = start + open_end + 1;
        let Some(body_len) = rest[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&rest[body_start..body_start + body_len]);
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            let _ = write!(hashes, " 'sha256-{encoded}'");
        }
        rest = &rest[body_start + body_len..];
    }
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    )
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
