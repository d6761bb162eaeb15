//! Fuzzing harnesses: each takes arbitrary bytes and panics only on a bug.
//!
//! The cargo-fuzz targets in `targets/` are one line over each (run on the
//! nightly toolchain by `scripts/fuzz.sh`); `tests/corpus.rs` replays the
//! seed corpus and every crash ever found (`corpus/<target>/`,
//! `regressions/<target>/`) through the same functions on stable, so a
//! regression shows in the ordinary test run.
//!
//! Besides "no panic", each checks a property the rest of Setpoint relies
//! on:
//! - [`document`]: a document the core accepts serializes and parses back
//!   to itself and still validates — what is accepted can always be loaded.
//! - [`evaluate`]: evaluating a valid flag serves one of its variants, the
//!   same one twice.
//! - [`snapshot`]: verifying a snapshot never panics; one that verifies
//!   reseals to the same checksum.
//! - [`alertmanager`] and [`writes`]: the HTTP API never answers `5xx`, and
//!   the store stays loadable.

use std::sync::OnceLock;

use axum::{Router, body::Body, http::Request};
use serde_json::Value;
use setpoint_core::{
    Context, Flag, Limits, ServiceDoc, check_document, evaluate as evaluate_flag, seal_parts,
    validate::validate_flag,
};
use setpoint_server::{
    AppState,
    auth::Role,
    engine::{Engine, EngineConfig},
    http::{NewToken, new_token},
    store::{AccountWrite, SqliteStore, Store},
};
use tower::ServiceExt;

/// A service document as JSON text, parsed and validated.
pub fn document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = check_document(text, &Limits::default()) else {
        return;
    };
    let stored = serde_json::to_string(&doc).expect("an accepted document serializes");
    let loaded = check_document(&stored, &Limits::default())
        .unwrap_or_else(|v| panic!("an accepted document does not load back: {v:?}"));
    assert_eq!(loaded, doc, "a document changes through a store round trip");
    for env in doc.values.keys() {
        let snapshot = doc.snapshot(env, &std::collections::BTreeMap::new(), None);
        let canonical = snapshot.canonical_json();
        serde_json::from_slice::<Value>(&canonical).expect("a snapshot is JSON");
    }
}

/// `[flag, context]` as JSON: a flag evaluated in each of its environments.
pub fn evaluate(data: &[u8]) {
    let Ok((flag, context)) = serde_json::from_slice::<(Flag, Context)>(data) else {
        return;
    };
    let path = setpoint_core::FieldPath::root();
    if !validate_flag("fuzzed", &flag, &path, &Limits::default()).is_empty() {
        return;
    }
    for env in flag.environments.keys() {
        let resolved = flag.resolve("fuzzed", env);
        let first = evaluate_flag(&resolved, &context);
        assert!(
            first
                .variant
                .as_ref()
                .is_none_or(|v| flag.variants.contains_key(v)),
            "served a variant the flag does not have: {first:?}"
        );
        assert_eq!(
            first,
            evaluate_flag(&resolved, &context),
            "not deterministic"
        );
    }
}

/// A sealed snapshot, verified.
pub fn snapshot(data: &[u8]) {
    let Ok(snapshot) = setpoint_core::snapshot::verify(data) else {
        return;
    };
    let parts: Vec<(String, Vec<u8>)> = snapshot
        .services
        .iter()
        .map(|(name, service)| (name.clone(), service.canonical_json()))
        .collect();
    let resealed = seal_parts(
        &snapshot.environment,
        snapshot.revision,
        parts.iter().map(|(name, json)| (name.as_str(), &json[..])),
    );
    setpoint_core::snapshot::verify(&resealed.json).expect("a resealed snapshot verifies");
}

/// An Alertmanager webhook delivery.
pub fn alertmanager(data: &[u8]) {
    let harness = Harness::get();
    harness.send(
        Request::post("/api/v1/hooks/alertmanager")
            .header("authorization", &harness.hook)
            .header("content-type", "application/json"),
        data,
    );
}

/// The endpoints [`writes`] picks from.
const ROUTES: [(&str, &str); 8] = [
    ("PATCH", "/api/v1/services/checkout/values/prod"),
    ("PUT", "/api/v1/services/checkout/flags/fuzzed"),
    ("PUT", "/api/v1/services/checkout/breakers/fuzzed"),
    ("PUT", "/api/v1/services/checkout/schema"),
    ("POST", "/api/v1/services"),
    ("POST", "/api/v1/validate"),
    ("POST", "/api/v1/import"),
    ("POST", "/api/v1/services/checkout/rollback"),
];

/// A write: the first byte picks the endpoint, the rest is the body, sent
/// with the service's current revision in `If-Match`.
pub fn writes(data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, uri) = ROUTES[usize::from(pick) % ROUTES.len()];
    let harness = Harness::get();
    let revision = harness
        .engine
        .world()
        .services
        .get("checkout")
        .map_or(0, |r| r.revision);
    harness.send(
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", &harness.admin)
            .header("content-type", "application/json")
            .header("if-match", format!("\"{revision}\"")),
        body,
    );
}

/// One server for every run of a process: a runtime, an app over a store
/// in a temporary directory, and two tokens.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    engine: std::sync::Arc<Engine>,
    store: std::sync::Arc<SqliteStore>,
    admin: String,
    hook: String,
    sent: std::sync::atomic::AtomicU64,
    _dir: tempfile::TempDir,
}

/// How often the store is reloaded from disk to check it still loads.
const LOAD_EVERY: u64 = 500;

impl Harness {
    fn get() -> &'static Self {
        static HARNESS: OnceLock<Harness> = OnceLock::new();
        HARNESS.get_or_init(Self::start)
    }

    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        // On tmpfs where there is one: the store's fsyncs are then free, and
        // an execution costs the handler's work, not the disk's.
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temp dir");
        let (router, engine, store, admin, hook) = runtime.block_on(async {
            let store = std::sync::Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
            let engine = Engine::start(store.clone(), EngineConfig::default())
                .await
                .expect("engine");
            let token = |name: &str, role| {
                let (token, bearer) = new_token(
                    NewToken {
                        name: name.into(),
                        role,
                        services: None,
                        environment: None,
                    },
                    "fuzz",
                )
                .expect("token");
                (AccountWrite::PutToken(token), format!("Bearer {bearer}"))
            };
            let (admin_write, admin) = token("fuzz-admin", Role::Admin);
            let (hook_write, hook) = token("fuzz-hook", Role::AlertSource);
            for write in [admin_write, hook_write] {
                engine
                    .write_account(write, "fuzz", "")
                    .await
                    .expect("token");
            }
            bootstrap(&engine).await;
            let router = setpoint_server::app(AppState::new(
                engine.clone(),
                store.clone(),
                dir.path().join("no-console"),
            ));
            (router, engine, store, admin, hook)
        });
        Self {
            runtime,
            router,
            engine,
            store,
            admin,
            hook,
            sent: std::sync::atomic::AtomicU64::new(0),
            _dir: dir,
        }
    }

    /// Sends a request; a `5xx`, or a store that no longer loads, is a bug.
    fn send(&self, request: axum::http::request::Builder, body: &[u8]) {
        let Ok(request) = request.body(Body::from(body.to_vec())) else {
            return;
        };
        let sent = self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.expect("router");
            let status = response.status();
            let text = http_body_util::BodyExt::collect(response.into_body())
                .await
                .map(http_body_util::Collected::to_bytes)
                .unwrap_or_default();
            assert!(
                !status.is_server_error(),
                "{status}: {}",
                String::from_utf8_lossy(&text)
            );
            if sent.is_multiple_of(LOAD_EVERY) {
                self.store.load().await.expect("the store loads");
            }
        });
    }
}

/// Environments and the example service, as the demo has them.
async fn bootstrap(engine: &Engine) {
    use setpoint_server::world::Command;
    for env in ["dev", "staging", "prod"] {
        engine
            .write(
                Command::CreateEnvironment {
                    name: env.into(),
                    description: String::new(),
                },
                "fuzz",
                "",
            )
            .await
            .expect("environment");
    }
    let doc: ServiceDoc =
        serde_json::from_str(include_str!("../../../examples/checkout.json")).expect("example");
    engine
        .write(Command::CreateService { doc }, "fuzz", "")
        .await
        .expect("service");
}
