//! The HTTP API, cut by domain. Each module owns its routes, wire types and
//! handlers; [`app`] merges them, adds the body limit and the fallbacks.

mod breakers;
mod changes;
mod environments;
mod events;
mod extract;
pub mod files;
mod flags;
mod fleet;
mod health;
mod ofrep;
mod people;
mod requests;
mod rollback;
mod rollouts;
mod services;
mod snapshots;
pub mod transfer;
mod validate;
mod write;

use std::{path::PathBuf, sync::Arc};

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    routing::{any, get},
};
use tower_http::compression::{
    CompressionLayer,
    predicate::{NotForContentType, Predicate, SizeAbove},
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    ApiError,
    admission::Admission,
    auth::{LoginLimiter, TokenCache},
    console,
    engine::Engine,
    fleet::Fleet,
    store::{Accounts, Backend, FleetStore},
};

pub use extract::{JsonBody, MAX_BODY_BYTES, Params, PathParams};
pub use people::{NewToken, new_token};
pub use write::{APPLY_AT, Held};

/// Shared state of every handler. axum clones it for every request and
/// every layer, so it is one `Arc`: one reference count to touch, not one
/// per field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The engine: state, writes, snapshots, change stream.
    pub engine: Arc<Engine>,
    /// Users, tokens and sessions.
    pub accounts: Arc<dyn Accounts>,
    /// The agents' latest reports.
    pub fleet: Arc<Fleet>,
    fleet_store: Arc<dyn FleetStore>,
    /// Failed-login throttling.
    pub limiter: Arc<LoginLimiter>,
    /// Turns for password checks and unauthenticated validations.
    pub admission: Arc<Admission>,
    /// Recently used tokens.
    pub tokens: Arc<TokenCache>,
    /// Whether session cookies are marked `Secure` (behind TLS).
    pub secure_cookies: bool,
    console_dir: PathBuf,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over `engine` and `store` (accounts and fleet reports),
    /// serving the console built into `console_dir`.
    pub fn new(engine: Arc<Engine>, store: Arc<dyn Backend>, console_dir: PathBuf) -> Self {
        let tokens = Arc::new(TokenCache::default());
        tokio::spawn(TokenCache::forget_revoked(
            Arc::downgrade(&tokens),
            engine.subscribe(),
        ));
        Self(Arc::new(Shared {
            fleet: fleet(&engine, store.clone(), crate::fleet::MAX_CLUSTERS),
            engine,
            fleet_store: store.clone(),
            accounts: store,
            limiter: Arc::new(LoginLimiter::default()),
            admission: Arc::new(Admission::default()),
            tokens,
            secure_cookies: false,
            console_dir,
        }))
    }

    /// The same state, admitting costly work and streams within other
    /// bounds.
    #[must_use]
    pub fn with_admission(mut self, admission: Admission) -> Self {
        Arc::make_mut(&mut self.0).admission = Arc::new(admission);
        self
    }

    /// The same state, keeping at most `clusters` agents' reports.
    #[must_use]
    pub fn with_max_clusters(mut self, clusters: usize) -> Self {
        let shared = Arc::make_mut(&mut self.0);
        shared.fleet = fleet(&shared.engine, shared.fleet_store.clone(), clusters);
        self
    }

    /// The same state, marking session cookies `Secure` (behind TLS) or not.
    #[must_use]
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        Arc::make_mut(&mut self.0).secure_cookies = secure;
        self
    }
}

/// The fleet, kept in `store`; shared with the other replicas when the
/// engine follows them.
fn fleet(engine: &Arc<Engine>, store: Arc<dyn FleetStore>, capacity: usize) -> Arc<Fleet> {
    let fleet = Fleet::new(store).with_capacity(capacity);
    if engine.follow_lag().is_none() {
        return Arc::new(fleet);
    }
    let fleet = Arc::new(fleet.shared());
    let engine = Arc::downgrade(engine);
    tokio::spawn(Fleet::follow(Arc::downgrade(&fleet), move || {
        engine.upgrade().map(|engine| engine.now())
    }));
    fleet
}

/// The OpenAPI description's frame; the paths come from the handlers.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Setpoint API", description = "Configuration control plane: services, values, flags, snapshots, changes."),
    modifiers(&Security),
    security(("bearer" = []), ("session" = []))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sp_<id>_<secret>")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "Console session; writes also need the x-csrf-token header",
            ))),
        );
    }
}

/// Every `/api/v1` route and OFREP's `/ofrep/v1`, with their OpenAPI
/// description. Handlers name
/// their whole path: nesting under `/api/v1` would rewrite every request's
/// URI to strip the prefix, which measured 7 % of a snapshot GET's
/// instructions (docs/performance.md).
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(validate::router())
        .merge(environments::router())
        .merge(services::router())
        .merge(changes::router())
        .merge(snapshots::router())
        .merge(events::router())
        .merge(people::router())
        .merge(requests::router())
        .merge(rollback::router())
        .merge(transfer::router())
        .merge(files::router())
        .merge(flags::router())
        .merge(breakers::router())
        .merge(rollouts::router())
        .merge(fleet::router())
        .merge(ofrep::router())
}

/// The OpenAPI description of the API, generated from the handlers.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The whole application: `/api/v1/*`, `/healthz`, `/readyz`, `/metrics`
/// and the console.
pub fn app(state: AppState) -> Router {
    let (api, spec) = api().split_for_parts();
    let spec = Arc::new(spec);
    let api = api
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let spec = Arc::clone(&spec);
                async move { Json(spec) }
            }),
        )
        .route(
            "/api/v1/{*rest}",
            any(|| async { ApiError::NotFound("no such API route".into()) }),
        )
        .route(
            "/api/v1",
            any(|| async { ApiError::NotFound("no such API route".into()) }),
        )
        .route(
            "/ofrep/{*rest}",
            any(|| async { ApiError::NotFound("no such OFREP route".into()) }),
        )
        .layer(compression());
    api.merge(health::router())
        .merge(console::router(&state.console_dir))
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn(write::options))
        .layer(axum::middleware::map_response(no_sniffing))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            health::count_requests,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// API answers from this size on are compressed for clients that accept
/// it; below it the work and the headers cost about what they save.
const COMPRESS_FROM_BYTES: u16 = 1024;

/// Brotli (quality 4, as nginx compresses on the fly) or gzip, as the
/// client accepts, for answers worth it. The console's files come
/// compressed from the build instead ([`console`]).
fn compression() -> CompressionLayer<impl Predicate> {
    let worth_it = SizeAbove::new(COMPRESS_FROM_BYTES)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        // Events go out as they happen: a compressor would hold them back.
        .and(NotForContentType::SSE);
    CompressionLayer::new().compress_when(worth_it)
}

/// Every answer is what its `Content-Type` says: browsers must not guess
/// (a JSON error echoing input must never run as a script or page).
async fn no_sniffing(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}
