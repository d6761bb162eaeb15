//! What any request may cost: CPU and memory bounded before
//! authentication, nesting that keeps the store loadable, counters that
//! clients cannot multiply.

mod common;

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use common::TestApp;
use serde_json::{Value, json};
use setpoint_server::{
    AppState,
    admission::{Admission, AdmissionLimits},
    app,
    auth::Role,
    engine::{Engine, EngineConfig},
    listen::{self, Listen},
    verify::verify,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    let restarted = test.router_over(engine);
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

/// Serves `router` on a free loopback port with `limits`.
async fn listening(router: axum::Router, limits: Listen) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(listen::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    address
}

/// Reads until the server closes the connection; what it sent.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> String {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut seen))
        .await
        .expect("the server closes the connection in time")
        .expect("reads");
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_disconnected() {
    let test = TestApp::new().await;
    let address = listening(
        test.router.clone(),
        Listen {
            header_timeout: Duration::from_millis(300),
            ..Listen::default()
        },
    )
    .await;
    let mut slow = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("writes");
    until_closed(&mut slow).await;

    // An idle keep-alive connection ends the same way, after its answer.
    let mut idle = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("writes");
    assert!(until_closed(&mut idle).await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn connections_beyond_the_cap_get_a_503_envelope() {
    let test = TestApp::new().await;
    let address = listening(
        test.router.clone(),
        Listen {
            max_connections: 2,
            header_timeout: Duration::from_mins(1),
            ..Listen::default()
        },
    )
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connects");
        // A whole request answered proves the connection was accepted.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("writes");
        let mut answer = [0; 12];
        stream.read_exact(&mut answer).await.expect("answered");
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut third = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    let answer = until_closed(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body = answer.split("\r\n\r\n").nth(1).expect("a body");
    assert!(
        answer.contains(&format!("content-length: {}\r\n", body.len())),
        "{answer}"
    );
    let envelope: Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(envelope["error"]["code"], "unavailable");
}

#[tokio::test]
async fn streams_are_bounded_per_principal_and_in_all() {
    let test = TestApp::seeded().await;
    let router = app(AppState::new(
        Arc::clone(&test.engine),
        test.store.clone(),
        test.dir.path().join("no-console"),
    )
    .with_admission(Admission::new(AdmissionLimits {
        streams: 3,
        streams_per_principal: 2,
        ..AdmissionLimits::default()
    })));
    let open = |bearer: String, uri: &'static str| {
        let router = router.clone();
        async move {
            let request = Request::get(uri)
                .header("authorization", format!("Bearer {bearer}"))
                .body(Body::empty())
                .expect("request");
            router.oneshot(request).await.expect("router")
        }
    };
    let other = test.token("other", Role::Viewer, None, None).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let stream = open(test.admin.clone(), "/api/v1/events").await;
        assert_eq!(stream.status(), StatusCode::OK);
        held.push(stream);
    }
    let third = common::reply(open(test.admin.clone(), "/api/v1/events").await).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.json["error"]["code"], "busy");

    let others = open(other.clone(), "/api/v1/events").await;
    assert_eq!(
        others.status(),
        StatusCode::OK,
        "another principal has its share"
    );
    let poll = common::reply(
        open(
            other.clone(),
            "/api/v1/environments/prod/snapshot?index=999999&wait=1s",
        )
        .await,
    )
    .await;
    assert_eq!(
        poll.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "the cap in all"
    );

    drop(held);
    let again = open(test.admin.clone(), "/api/v1/events").await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a closed stream gives its place back"
    );
}

#[tokio::test]
async fn a_shutdown_does_not_wait_for_event_streams_forever() {
    let test = TestApp::seeded().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(listen::serve(
        listener,
        test.router.clone(),
        Listen {
            shutdown_grace: Duration::from_millis(200),
            ..Listen::default()
        },
        async {
            let _ = stopped.await;
        },
    ));
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connects");
    stream
        .write_all(
            format!(
                "GET /api/v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\r\n",
                test.admin
            )
            .as_bytes(),
        )
        .await
        .expect("writes");
    let mut answer = [0; 12];
    stream.read_exact(&mut answer).await.expect("answered");
    assert_eq!(&answer, b"HTTP/1.1 200", "the stream is open");
    stop.send(()).expect("stop");
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops despite the open stream")
        .expect("joins")
        .expect("serves");
}

/// An import of an export of `services` services, each holding a string
/// of `bytes`.
fn import_body(services: usize, bytes: usize) -> Vec<u8> {
    let blob = "x".repeat(bytes);
    let services: Vec<Value> = (0..services)
        .map(|i| {
            json!({
                "service": format!("big-{i}"),
                "schema": {"blob": {"type": "string", "default": blob}}
            })
        })
        .collect();
    let document = json!({"format": "setpoint/1", "environments": [], "services": services});
    json!({"document": document, "reason": "a big import"})
        .to_string()
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_imports_fifty_megabytes_and_nobody_else_gets_it_read() {
    // No environments: the import's cost is reading, checking and storing
    // it, not sealing snapshots of it.
    let app = TestApp::new().await;
    let json = [("content-type", "application/json")];
    // Over the general 1 MiB limit, for someone who may not import: refused
    // for who they are, not for the size.
    let editor = format!("Bearer {}", app.token("ed", Role::Editor, None, None).await);
    let small = import_body(40, 60_000);
    let reply = app
        .raw(
            Method::POST,
            "/api/v1/import",
            &[json[0], ("authorization", &editor)],
            Some(small),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    let body = import_body(820, 62_000);
    assert!(body.len() > 50_000_000, "{} bytes", body.len());
    let started = std::time::Instant::now();
    let reply = app
        .raw(Method::POST, "/api/v1/import", &json, Some(body))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    eprintln!("50 MB import answered in {:?}", started.elapsed());
    assert_eq!(reply.json["changes"].as_array().map(Vec::len), Some(820));
    app.settle().await;
    let services = app.get("/api/v1/services").await;
    assert_eq!(services.json.as_array().map(Vec::len), Some(820));

    let over = vec![b' '; setpoint_server::http::transfer::MAX_IMPORT_BYTES + 1];
    let reply = app
        .raw(Method::POST, "/api/v1/import", &json, Some(over))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["error"]["code"], "payload_too_large");
}

/// SQLite's own checkpoint runs inside the commit that crosses its
/// threshold, making that commit (and every write behind it) wait while
/// the WAL is copied; Setpoint copies it on a thread of its own. Seen from
/// outside: the database file receives a large commit's pages with nobody
/// else checkpointing, and the WAL stops growing.
#[tokio::test(flavor = "multi_thread")]
async fn the_wal_is_copied_into_the_database_file_off_the_commit_path() {
    let app = TestApp::new().await;
    let db = app.dir.path().join("setpoint.db");
    let size = |path: &std::path::Path| std::fs::metadata(path).map_or(0, |m| m.len());
    let before = size(&db);
    let reply = app
        .raw(
            Method::POST,
            "/api/v1/import",
            &[("content-type", "application/json")],
            Some(import_body(100, 60_000)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    common::parts::eventually(
        Duration::from_secs(30),
        "the import's pages copied into the database file",
        || async { size(&db) > before + 6_000_000 },
    )
    .await;
}
