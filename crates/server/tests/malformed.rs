//! Bad input gets a clear `4xx` and loses nothing: a table of malformed
//! requests, each with the status it must get and an envelope with a
//! message. None may answer `5xx`.

mod common;

use axum::http::Method;
use common::TestApp;

struct Case {
    method: Method,
    uri: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
    status: u16,
}

fn case(method: Method, uri: &'static str, body: Option<&str>, status: u16) -> Case {
    Case {
        method,
        uri,
        headers: Vec::new(),
        body: body.map(|b| b.as_bytes().to_vec()),
        status,
    }
}

fn with(mut c: Case, name: &'static str, value: impl Into<String>) -> Case {
    c.headers.push((name, value.into()));
    c
}

fn cases(r: u64) -> Vec<Case> {
    use Method as M;
    let values = "/api/v1/services/checkout/values/prod";
    let patch = |body: String, status| Case {
        method: M::PATCH,
        uri: values,
        headers: Vec::new(),
        body: Some(body.into_bytes()),
        status,
    };
    vec![
        patch("{".into(), 400),
        patch("[]".into(), 400),
        patch(r#"{"set": 5}"#.into(), 400),
        patch(format!(r#"{{"set": {{}}, "remove_keys": "x", "base_revision": {r}}}"#), 400),
        patch(format!(r#"{{"unknown": 1, "base_revision": {r}}}"#), 400),
        patch(format!(r#"{{"set": {{"throttle.rps": "lots"}}, "base_revision": {r}}}"#), 422),
        patch(format!(r#"{{"set": {{"nope": 1}}, "base_revision": {r}}}"#), 422),
        patch(format!(r#"{{"set": {{"throttle.rps": 1e400}}, "base_revision": {r}}}"#), 400),
        patch(r#"{"set": {}, "base_revision": -1}"#.into(), 400),
        patch(r#"{"set": {}, "base_revision": "x"}"#.into(), 400),
        patch(format!(r#"{{"set": {{"maintenance": true}}, "remove_keys": ["maintenance"], "base_revision": {r}}}"#), 400),
        patch(r#"{"set": {}}"#.into(), 400),
        with(patch(r#"{"set": {}}"#.into(), 400), "if-match", "yesterday"),
        with(patch(format!(r#"{{"set": {{}}, "base_revision": {r}}}"#), 400), "if-match", format!("\"{}\"", r + 1)),
        with(patch(format!(r#"{{"set": {{}}, "base_revision": {r}}}"#), 400), "content-type", "text/plain"),
        Case { method: M::PATCH, uri: values, headers: Vec::new(), body: Some(vec![b'{', 0xff, b'}']), status: 400 },
        Case { method: M::PATCH, uri: values, headers: Vec::new(), body: Some(vec![b' '; 1024 * 1024 + 10]), status: 413 },
        patch(format!(r#"{{"set": {{}}, "base_revision": {}}}"#, r - 1), 409),
        Case { method: M::PATCH, uri: "/api/v1/services/checkout/values/qa", headers: Vec::new(), body: Some(format!(r#"{{"set": {{}}, "base_revision": {r}}}"#).into_bytes()), status: 404 },
        Case { method: M::PATCH, uri: "/api/v1/services/nope/values/prod", headers: Vec::new(), body: Some(format!(r#"{{"set": {{}}, "base_revision": {r}}}"#).into_bytes()), status: 404 },
        patch(format!(r#"{{"set": {{}}, "base_revision": {r}, "reason": "{}"}}"#, "x".repeat(1001)), 400),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {}}"#), 400),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {"service": "Bad Name!"}}"#), 422),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {"service": "checkout"}}"#), 409),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {"service": "x", "schema": {"k": {"type": "nope", "default": 1}}}}"#), 400),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {"service": "x", "schema": {"k": {"type": "int", "default": "a"}}}}"#), 422),
        case(M::POST, "/api/v1/services", Some(r#"{"document": {"service": "x", "values": {"qa": {}}}}"#), 422),
        case(M::POST, "/api/v1/services", Some(r#"{"service": "x"}"#), 400),
        case(M::PUT, "/api/v1/services/checkout", Some(r#"{"document": {"service": "other"}, "base_revision": 1}"#), 400),
        case(M::PUT, "/api/v1/services/checkout/schema", Some(r#"{"schema": [], "base_revision": 1}"#), 400),
        Case { method: M::PUT, uri: "/api/v1/services/checkout/flags/f", headers: Vec::new(), status: 422,
               body: Some(format!(r#"{{"flag": {{"variants": {{"a": 1}}, "off": "a", "environments": {{"prod": {{"enabled": true, "default": {{"split": {{"weights": [{{"variant": "a", "weight": 99}}]}}}}}}}}}}, "base_revision": {r}}}"#).into_bytes()) },
        Case { method: M::PUT, uri: "/api/v1/services/checkout/flags/f", headers: Vec::new(), status: 400,
               body: Some(format!(r#"{{"flag": {{"variants": {{"a": 1}}, "off": "a", "colour": "red"}}, "base_revision": {r}}}"#).into_bytes()) },
        with(case(M::DELETE, "/api/v1/services/checkout/flags/nope", None, 404), "if-match", r.to_string()),
        case(M::DELETE, "/api/v1/services/checkout", None, 400),
        case(M::POST, "/api/v1/services/checkout/restore", Some("{}"), 404),
        case(M::POST, "/api/v1/environments", Some(r#"{"name": ""}"#), 422),
        case(M::POST, "/api/v1/environments", Some(r#"{"name": "prod"}"#), 409),
        case(M::POST, "/api/v1/environments", Some(r#"{"name": 5}"#), 400),
        case(M::GET, "/api/v1/changes?limit=abc", None, 400),
        case(M::GET, "/api/v1/changes?limit=1000", None, 400),
        case(M::GET, "/api/v1/changes?kind=x", None, 400),
        case(M::GET, "/api/v1/changes?since=notatime", None, 400),
        case(M::GET, "/api/v1/changes?cursor=-5", None, 400),
        case(M::GET, "/api/v1/environments/qa/snapshot", None, 404),
        case(M::GET, "/api/v1/environments/prod/snapshot/nope", None, 404),
        case(M::GET, "/api/v1/environments/prod/snapshot?index=1&wait=forever", None, 400),
        case(M::GET, "/api/v1/environments/prod/snapshot?index=abc", None, 400),
        case(M::GET, "/api/v1/environments/prod/snapshot?index=1&wait=301s", None, 400),
        case(M::GET, "/api/v1/environments/qa/events", None, 404),
        with(case(M::GET, "/api/v1/environments/prod/events", None, 400), "last-event-id", "abc"),
        case(M::POST, "/api/v1/services/checkout/rollback", Some(r#"{"to_revision": 999999, "dry_run": true}"#), 400),
        case(M::POST, "/api/v1/services/checkout/rollback", Some(r#"{"to_revision": 1, "dry_run": true}"#), 400),
        case(M::POST, "/api/v1/services/checkout/rollback", Some(r#"{"to_revision": 1, "when": "now"}"#), 400),
        case(M::POST, "/api/v1/import", Some(r#"{"document": {"format": "other/9", "environments": [], "services": []}}"#), 400),
        case(M::POST, "/api/v1/import", Some(r#"{"document": {"format": "setpoint/1", "environments": [], "services": [{"service": "y", "values": {"qa": {}}}]}}"#), 422),
        case(M::POST, "/api/v1/tokens", Some(r#"{"name": "t", "role": "superuser"}"#), 400),
        case(M::POST, "/api/v1/tokens", Some(r#"{"name": "not valid", "role": "viewer"}"#), 400),
        case(M::POST, "/api/v1/users", Some(r#"{"username": "gina", "password": "short", "role": "viewer"}"#), 400),
        case(M::POST, "/api/v1/users", Some(r#"{"username": "gi na", "password": "long enough password", "role": "viewer"}"#), 400),
        case(M::DELETE, "/api/v1/tokens/nope", None, 404),
        case(M::POST, "/api/v1/session", Some(r#"{"user": "admin"}"#), 400),
        case(M::PATCH, "/api/v1/environments", Some("{}"), 405),
        case(M::GET, "/api/v1/nothing/here", None, 404),
        case(M::POST, "/api/v1/validate", Some(r#"{"service": 1}"#), 400),
        with(case(M::GET, "/api/v1/services", None, 401), "authorization", "Basic YWRtaW46YWRtaW4="),
        with(case(M::GET, "/api/v1/services", None, 401), "authorization", "Bearer garbage"),
    ]
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_with_a_message_and_change_nothing() {
    let app = TestApp::seeded().await;
    let revision = app.revision("checkout").await;
    let before = app.get("/api/v1/export").await.json;
    let cases = cases(revision);
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, c) in cases.into_iter().enumerate() {
        let mut headers: Vec<(&str, &str)> =
            c.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if c.body.is_some() && !headers.iter().any(|(k, _)| *k == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        let reply = app.raw(c.method.clone(), c.uri, &headers, c.body).await;
        let message = reply.json["error"]["message"].as_str().unwrap_or_default();
        if reply.status.as_u16() != c.status || message.is_empty() {
            failures.push(format!(
                "#{i} {} {}: expected {}, got {} {}",
                c.method, c.uri, c.status, reply.status, reply.text
            ));
        }
        assert!(
            !reply.status.is_server_error(),
            "#{i} {} {}: {}",
            c.method,
            c.uri,
            reply.text
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        app.get("/api/v1/export").await.json,
        before,
        "nothing changed"
    );
    assert_eq!(app.revision("checkout").await, revision);
}
