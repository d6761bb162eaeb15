//! Shared test set-up: an app over a fresh SQLite store, and a request helper.
#![allow(dead_code, reason = "each test file uses a different part")]

pub mod parts;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use setpoint_server::{
    AppState, app,
    auth::Role,
    engine::{Engine, EngineConfig},
    http::{NewToken, new_token},
    store::{self, AccountWrite, Backend, SqliteStore},
};
use tower::ServiceExt;

pub const EXAMPLE: &str = include_str!("../../../../examples/checkout.json");

/// A running app over its own store, in a temporary directory. Requests
/// carry an admin token unless they say otherwise.
pub struct TestApp {
    pub router: Router,
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Backend>,
    pub admin: String,
    pub dir: tempfile::TempDir,
    /// More replicas of the app on the same (PostgreSQL) database:
    /// requests go to each in turn, as behind a round-robin balancer.
    replicas: Vec<(Router, Arc<Engine>)>,
    turn: AtomicUsize,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(EngineConfig::default()).await
    }

    /// An app whose engine runs with `config` (a manual clock, say).
    pub async fn with_config(config: EngineConfig) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SqliteStore::open(dir.path()).await.expect("store opens"));
        Self::over(vec![store], dir, config).await
    }

    /// [`TestApp::seeded`] as two replicas on a new database of
    /// `postgres`, taking requests in turn.
    pub async fn seeded_replicas(postgres: &parts::Postgres) -> Self {
        static DATABASES: AtomicUsize = AtomicUsize::new(0);
        let name = format!("app{}", DATABASES.fetch_add(1, Ordering::Relaxed));
        let url = postgres.migrated(&name).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let mut stores = Vec::new();
        for _ in 0..2 {
            stores.push(
                store::open(Some(&url), dir.path())
                    .await
                    .expect("store opens"),
            );
        }
        let app = Self::over(stores, dir, EngineConfig::default()).await;
        app.seed().await;
        app
    }

    /// An app per store, the first one's the `router`.
    async fn over(
        stores: Vec<Arc<dyn Backend>>,
        dir: tempfile::TempDir,
        config: EngineConfig,
    ) -> Self {
        let mut replicas = Vec::new();
        for store in &stores {
            let engine = Engine::start(store.clone(), config.clone())
                .await
                .expect("engine starts");
            let router = app(AppState::new(
                Arc::clone(&engine),
                store.clone(),
                dir.path().join("no-console"),
            ));
            replicas.push((router, engine));
        }
        let (router, engine) = replicas.remove(0);
        let mut app = Self {
            router,
            engine,
            store: Arc::clone(&stores[0]),
            admin: String::new(),
            dir,
            replicas,
            turn: AtomicUsize::new(0),
        };
        app.admin = app.token("test-admin", Role::Admin, None, None).await;
        app
    }

    /// Waits until every replica has followed every commit, so that what
    /// one answers next does not depend on which one answers.
    pub async fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let commits = self.engine.world().commits;
            if self
                .replicas
                .iter()
                .all(|(_, e)| e.world().commits == commits)
            {
                return;
            }
            assert!(Instant::now() < deadline, "the replicas did not follow");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// A bearer string for a new token.
    pub async fn token(
        &self,
        name: &str,
        role: Role,
        services: Option<&[&str]>,
        environment: Option<&str>,
    ) -> String {
        let request = NewToken {
            name: name.into(),
            role,
            services: services.map(|s| s.iter().map(|s| (*s).to_string()).collect()),
            environment: environment.map(str::to_owned),
        };
        let (token, bearer) = new_token(request, "test").expect("token");
        self.engine
            .write_account(AccountWrite::PutToken(token), "test", "")
            .await
            .expect("stored");
        self.settle().await;
        bearer
    }

    /// With environments dev, staging and prod, and the example service.
    pub async fn seeded() -> Self {
        Self::seeded_with(EngineConfig::default()).await
    }

    /// [`TestApp::seeded`] with an engine running with `config`.
    pub async fn seeded_with(config: EngineConfig) -> Self {
        let app = Self::with_config(config).await;
        app.seed().await;
        app
    }

    /// Adds environments dev, staging and prod, and the example service.
    async fn seed(&self) {
        let app = self;
        for env in ["dev", "staging", "prod"] {
            let reply = app.post("/api/v1/environments", json!({"name": env})).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        }
        let doc: Value = serde_json::from_str(EXAMPLE).expect("example");
        let reply = app
            .post(
                "/api/v1/services",
                json!({"document": doc, "reason": "seed"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        app.settle().await;
    }

    /// A request with a JSON body (if any), as the test admin unless the
    /// headers carry credentials.
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut all = headers.to_vec();
        if body.is_some() {
            all.push(("content-type", "application/json"));
        }
        self.raw(
            method,
            uri,
            &all,
            body.map(|json| json.to_string().into_bytes()),
        )
        .await
    }

    /// A request with a raw body and exactly the given headers, plus the
    /// test admin's token unless they carry credentials.
    pub async fn raw(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let bearer = format!("Bearer {}", self.admin);
        let mut request = Request::builder().method(method).uri(uri);
        let has_credentials = headers.iter().any(|(name, _)| {
            name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie")
        });
        if !has_credentials {
            request = request.header("authorization", &bearer);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = body.map_or_else(Body::empty, Body::from);
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) % (self.replicas.len() + 1);
        let router = match turn.checked_sub(1) {
            Some(replica) => &self.replicas[replica].0,
            None => &self.router,
        };
        let response = router
            .clone()
            .oneshot(request.body(body).expect("request builds"))
            .await
            .expect("the router never fails");
        reply(response).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, &[], None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.request(Method::POST, uri, &[], Some(body)).await
    }

    /// Sets values of `service` in `environment` as the test admin, based
    /// on the service's current revision.
    pub async fn set_values(&self, service: &str, environment: &str, set: Value) -> Reply {
        let base = self.revision(service).await;
        self.request(
            Method::PATCH,
            &format!("/api/v1/services/{service}/values/{environment}"),
            &[],
            Some(json!({"set": set, "base_revision": base})),
        )
        .await
    }

    /// The app over `engine` — another engine on this app's store, as
    /// after a restart.
    pub fn router_over(&self, engine: Arc<Engine>) -> Router {
        app(AppState::new(
            engine,
            self.store.clone(),
            self.dir.path().join("no-console"),
        ))
    }

    /// The current revision of a service.
    pub async fn revision(&self, service: &str) -> u64 {
        self.get(&format!("/api/v1/services/{service}")).await.json["revision"]
            .as_u64()
            .expect("a revision")
    }
}

/// Starts the real `setpoint serve --demo` on a free port over `data`;
/// returns the process and its `host:port` once it listens.
pub fn start_server(data: &std::path::Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--console-dir",
            "/nonexistent",
            "--data",
        ])
        .arg(data)
        .env("SETPOINT_ADMIN_PASSWORD", "a-long-test-password")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("utf-8");
        if let Some(rest) = line.strip_prefix("Setpoint is running at http://") {
            break rest.trim_end_matches('/').to_string();
        }
    };
    (child, address)
}

/// Reads a response whole.
pub async fn reply(response: axum::response::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
        text,
    }
}
