//! Shared test set-up: an app over a fresh SQLite store, and a request helper.
#![allow(dead_code, reason = "each test file uses a different part")]

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use setpoint_server::{
    AppState, app,
    engine::{Engine, EngineConfig},
    store::SqliteStore,
};
use tower::ServiceExt;

pub const EXAMPLE: &str = include_str!("../../../../examples/checkout.json");

/// A running app over its own store, in a temporary directory.
pub struct TestApp {
    pub router: Router,
    pub engine: Arc<Engine>,
    pub dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path()).await.expect("store opens");
        let engine = Engine::start(Arc::new(store), EngineConfig::default())
            .await
            .expect("engine starts");
        let router = app(AppState::new(
            Arc::clone(&engine),
            dir.path().join("no-console"),
        ));
        Self {
            router,
            engine,
            dir,
        }
    }

    /// With environments dev, staging and prod, and the example service.
    pub async fn seeded() -> Self {
        let app = Self::new().await;
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
        app
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response = self
            .router
            .clone()
            .oneshot(request.body(body).expect("request builds"))
            .await
            .expect("the router never fails");
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

    pub async fn get(&self, uri: &str) -> Reply {
        self.request(Method::GET, uri, &[], None).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.request(Method::POST, uri, &[], Some(body)).await
    }

    /// The current revision of a service.
    pub async fn revision(&self, service: &str) -> u64 {
        self.get(&format!("/api/v1/services/{service}")).await.json["revision"]
            .as_u64()
            .expect("a revision")
    }
}
