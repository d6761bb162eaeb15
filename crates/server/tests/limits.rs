//! What any request may cost: CPU and memory bounded before
//! authentication, nesting that keeps the store loadable, counters that
//! clients cannot multiply.

mod common;

use std::sync::Arc;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use common::TestApp;
use serde_json::{Value, json};
use setpoint_server::{
    AppState, app,
    engine::{Engine, EngineConfig},
    verify::verify,
};
use tower::ServiceExt;

/// `[[[…1…]]]`, `levels` arrays deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!([inner]))
}

#[tokio::test]
async fn the_deepest_accepted_value_survives_a_restart_and_deeper_ones_are_refused() {
    let test = TestApp::seeded().await;
    let flag = |value: Value| json!({"flag": {"variants": {"a": value, "b": [0]}, "off": "a"}, "base_revision": 0});
    let put = |body: Value| {
        let test = &test;
        async move {
            let mut body = body;
            body["base_revision"] = json!(test.revision("checkout").await);
            test.request(
                Method::PUT,
                "/api/v1/services/checkout/flags/deep",
                &[],
                Some(body),
            )
            .await
        }
    };
    // 124 levels fit the request parser's 128 but not a stored row's.
    let refused = put(flag(nested(124))).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(refused.json["error"]["details"][0]["code"], "too_deep");
    assert_eq!(
        refused.json["error"]["details"][0]["path"],
        "flags.deep.variants.a"
    );

    let accepted = put(flag(nested(32))).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    let export = test.get("/api/v1/export").await.json;

    // A second engine over the same store: what was accepted loads.
    let engine = Engine::start(test.store.clone(), EngineConfig::default())
        .await
        .expect("the store loads after the deepest accepted value");
    let restarted = app(AppState::new(
        engine,
        test.store.clone(),
        test.dir.path().join("no-console"),
    ));
    let request = Request::get("/api/v1/export")
        .header("authorization", format!("Bearer {}", test.admin))
        .body(Body::empty())
        .expect("request");
    let reply = common::reply(restarted.oneshot(request).await.expect("router")).await;
    assert_eq!(reply.json["services"], export["services"]);
    let report = verify(test.store.as_ref()).await.expect("verify reads");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn an_explosive_pattern_is_refused_before_any_matching() {
    let app = TestApp::new().await;
    let mut doc: Value = serde_json::from_str(common::EXAMPLE).expect("example");
    doc["schema"]["list"] = json!({
        "type": "json",
        "schema": {"type": "array", "items": {"type": "string", "pattern": "x{1000}{250}"}},
        "default": vec!["x".repeat(1000); 400],
    });
    let reply = app
        .request(
            Method::POST,
            "/api/v1/validate",
            &[("cookie", "none=1")],
            Some(doc),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(
        reply.json["error"]["details"][0]["path"],
        "schema.list.schema"
    );
    assert_eq!(
        reply.json["error"]["details"][0]["code"],
        "invalid_constraint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_are_counted_before_their_passwords_are_checked() {
    let app = Arc::new(TestApp::seeded().await);
    app.post(
        "/api/v1/users",
        json!({"username": "frank", "password": "correct horse battery", "role": "viewer"}),
    )
    .await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                app.request(
                    Method::POST,
                    "/api/v1/session",
                    &[("cookie", "x=1")],
                    Some(json!({"username": "frank", "password": format!("guess {i}")})),
                )
                .await
                .status
            })
        })
        .collect();
    let mut checked = 0;
    for guess in guesses {
        match guess.await.expect("guess") {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(checked, 5, "only five guesses reach the password check");
}

#[tokio::test]
async fn invented_methods_are_counted_as_other_in_one_series() {
    let app = TestApp::new().await;
    for i in 0..300 {
        let method = Method::from_bytes(format!("INVENT{i}").as_bytes()).expect("method");
        let reply = app.request(method, "/api/v1/services", &[], None).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    }
    let metrics = app.get("/metrics").await.text;
    let other: Vec<&str> = metrics
        .lines()
        .filter(|line| {
            line.starts_with("setpoint_http_requests_total") && line.contains("method=\"other\"")
        })
        .collect();
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0].ends_with(" 300"), "{}", other[0]);
    assert!(!metrics.contains("INVENT"));
}
