//! A corpus of bad input, generated: every write endpoint with each of its
//! fields replaced by values of the wrong type, absurd numbers, deep
//! nesting and huge text; bodies that are not JSON or not UTF-8; long and
//! undecodable paths; odd methods and headers; bad cursors and event ids.
//! Each must get a `4xx` with the error envelope — never a `5xx` — and
//! none may change anything: the export is byte-for-byte the same after.

mod common;

use axum::http::Method;
use common::TestApp;
use serde_json::{Value, json};
use setpoint_server::auth::sha256_hex;

struct Case {
    method: Method,
    uri: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Vec<u8>>,
}

impl Case {
    fn new(method: Method, uri: impl Into<String>, body: Option<Vec<u8>>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Vec::new(),
            body,
        }
    }

    fn json(method: Method, uri: impl Into<String>, body: &Value) -> Self {
        Self::new(method, uri, Some(body.to_string().into_bytes()))
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// `[[[…]]]`, `levels` deep.
fn nested(levels: usize) -> Value {
    (0..levels).fold(json!(0), |inner, _| json!([inner]))
}

/// Values no field of any request accepts where a structure is expected.
fn wrong_values() -> Vec<Value> {
    vec![
        json!(1),
        json!(-1),
        json!(1.5),
        json!("text"),
        json!(""),
        json!(true),
        json!([]),
        json!([1, 2]),
        json!(18_446_744_073_709_551_615_u64),
        json!(-9_223_372_036_854_775_808_i64),
        nested(40),
        json!("x".repeat(70_000)),
    ]
}

/// A write endpoint: a valid body, the fields that no wrong value may
/// pass and that may not be left out (each is required, and typed so that
/// every value of [`wrong_values`] is refused), and whether it reads a
/// base revision (and so `If-Match`).
struct Endpoint {
    method: Method,
    uri: String,
    valid: Value,
    fields: &'static [&'static str],
    based: bool,
}

fn endpoints(revision: u64) -> Vec<Endpoint> {
    let flag = json!({"variants": {"on": true, "off": false}, "off": "off"});
    let breaker = json!({"trips_on": [["alertname=X"]]});
    vec![
        Endpoint {
            method: Method::PATCH,
            uri: "/api/v1/services/checkout/values/prod".into(),
            valid: json!({"set": {"throttle.rps": 7}, "base_revision": revision}),
            fields: &["base_revision"],
            based: true,
        },
        Endpoint {
            method: Method::PUT,
            uri: "/api/v1/services/checkout/flags/new-flag".into(),
            valid: json!({"flag": flag, "base_revision": revision}),
            fields: &["flag", "base_revision"],
            based: true,
        },
        Endpoint {
            method: Method::PUT,
            uri: "/api/v1/services/checkout/breakers/new-breaker".into(),
            valid: json!({"breaker": breaker, "base_revision": revision}),
            fields: &["breaker", "base_revision"],
            based: true,
        },
        Endpoint {
            method: Method::PUT,
            uri: "/api/v1/services/checkout/schema".into(),
            valid: json!({"schema": {}, "base_revision": revision}),
            fields: &["schema", "base_revision"],
            based: true,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/services".into(),
            valid: json!({"document": {"service": "fresh"}}),
            fields: &["document"],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/environments".into(),
            valid: json!({"name": "qa"}),
            fields: &[],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/services/checkout/rollback".into(),
            valid: json!({"to_revision": 4, "base_revision": revision}),
            fields: &["to_revision", "base_revision"],
            based: true,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/import".into(),
            valid: json!({"document": {"format": "setpoint/1", "environments": [], "services": []}}),
            fields: &["document"],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/tokens".into(),
            valid: json!({"name": "fresh", "role": "viewer"}),
            fields: &["role"],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/users".into(),
            valid: json!({"username": "fresh", "password": "a long enough password", "role": "viewer"}),
            fields: &["role"],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/services/checkout/breakers/payments-provider/environments/prod/trip"
                .into(),
            valid: json!({"reason": "drill"}),
            fields: &[],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/validate".into(),
            valid: json!({"service": "fresh"}),
            fields: &[],
            based: false,
        },
        Endpoint {
            method: Method::POST,
            uri: "/api/v1/session".into(),
            valid: json!({"username": "nobody", "password": "x"}),
            fields: &["username", "password"],
            based: false,
        },
    ]
}

fn cases(revision: u64) -> Vec<Case> {
    let mut cases: Vec<Case> = endpoints(revision)
        .iter()
        .flat_map(endpoint_cases)
        .collect();
    cases.extend(request_line_cases());
    cases
}

/// Bad bodies and headers for one endpoint.
fn endpoint_cases(endpoint: &Endpoint) -> Vec<Case> {
    let mut cases = Vec::new();
    for field in endpoint.fields {
        for wrong in wrong_values() {
            let mut body = endpoint.valid.clone();
            body[*field] = wrong;
            cases.push(Case::json(endpoint.method.clone(), &endpoint.uri, &body));
        }
        let mut without = endpoint.valid.clone();
        if let Some(object) = without.as_object_mut() {
            object.remove(*field);
        }
        cases.push(Case::json(endpoint.method.clone(), &endpoint.uri, &without));
    }
    let text = endpoint.valid.to_string();
    let bodies: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"null".to_vec(),
        b"{".to_vec(),
        text.as_bytes()[..text.len() / 2].to_vec(),
        format!("{text}garbage").into_bytes(),
        format!("{text}{text}").into_bytes(),
        [&b"\xef\xbb\xbf"[..], text.as_bytes()].concat(),
        [&b"{\"a\": \"\xff\xfe\"}"[..]].concat(),
        {
            let mut extra = endpoint.valid.clone();
            extra["unexpected_field"] = json!(1);
            extra.to_string().into_bytes()
        },
        nested(200).to_string().into_bytes(),
        vec![b' '; 1024 * 1024 + 1],
    ];
    for body in bodies {
        cases.push(Case::new(
            endpoint.method.clone(),
            &endpoint.uri,
            Some(body),
        ));
    }
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "nonsense",
    ] {
        cases.push(
            Case::new(
                endpoint.method.clone(),
                &endpoint.uri,
                Some(text.clone().into_bytes()),
            )
            .header("content-type", content_type),
        );
    }
    let if_matches = [
        "\"-1\"",
        "\"18446744073709551616\"",
        "yesterday",
        "\"1\", \"2\"",
    ];
    for if_match in if_matches.iter().filter(|_| endpoint.based) {
        cases.push(
            Case::json(endpoint.method.clone(), &endpoint.uri, &endpoint.valid)
                .header("if-match", *if_match),
        );
    }
    let invented = Method::from_bytes(b"FROBNICATE").expect("method");
    cases.push(Case::new(invented, &endpoint.uri, None));
    // Without credentials (validation and login need none: skipped).
    if !endpoint.uri.ends_with("/validate") && !endpoint.uri.ends_with("/session") {
        cases.push(
            Case::json(endpoint.method.clone(), &endpoint.uri, &endpoint.valid)
                .header("authorization", "Bearer sp_nope_nope"),
        );
    }
    cases
}

/// Bad paths, queries, event ids and credentials.
fn request_line_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let long = "s".repeat(300);
    for uri in [
        format!("/api/v1/services/{long}"),
        format!("/api/v1/environments/{long}/snapshot"),
        format!("/api/v1/environments/prod/snapshot/{long}"),
        format!("/api/v1/environments/{long}/events"),
        format!("/api/v1/environments/{long}/breakers"),
        "/api/v1/services/%FF%FE".into(),
        "/api/v1/services/checkout%00".into(),
        "/api/v1/environments/%C0%AF/snapshot".into(),
        format!("/api/v1/{}", "a/".repeat(2000)),
    ] {
        cases.push(Case::new(Method::GET, uri, None));
    }
    for query in [
        "cursor=9223372036854775808",
        "cursor=18446744073709551616",
        "cursor=-1",
        "cursor=",
        "limit=0",
        "limit=-1",
        "limit=501",
        "limit=99999999999999999999",
        "since=2026-13-45T00:00:00Z",
        "until=yesterday",
        "kind=user_saved&kind=token_created",
        "unknown=1",
    ] {
        cases.push(Case::new(
            Method::GET,
            format!("/api/v1/changes?{query}"),
            None,
        ));
        cases.push(Case::new(
            Method::GET,
            format!("/api/v1/services/checkout/history?{query}"),
            None,
        ));
    }
    for query in [
        "index=18446744073709551616",
        "index=-1",
        "index=1&wait=-1s",
        "index=1&wait=1y",
        "index=1&wait=99999999999999999999s",
        "wait=5s&wait=6s",
        "other=1",
    ] {
        cases.push(Case::new(
            Method::GET,
            format!("/api/v1/environments/prod/snapshot?{query}"),
            None,
        ));
    }
    for event_id in [
        "9223372036854775808",
        "18446744073709551616",
        "-1",
        "1.5",
        "",
        "abc",
    ] {
        for uri in ["/api/v1/events", "/api/v1/environments/prod/events"] {
            cases.push(Case::new(Method::GET, uri, None).header("last-event-id", event_id));
        }
    }
    for authorization in [
        "Bearer",
        "Bearer ",
        "Basic",
        "bearer sp_a_b",
        "Bearer sp_",
        "Bearer sp__",
    ] {
        cases.push(
            Case::new(Method::GET, "/api/v1/services", None).header("authorization", authorization),
        );
    }
    for cookie in [
        "setpoint_session=",
        "setpoint_session=nope",
        "setpoint_session",
    ] {
        cases.push(Case::new(Method::GET, "/api/v1/services", None).header("cookie", cookie));
    }
    cases
}

#[tokio::test]
async fn hundreds_of_bad_requests_get_4xx_envelopes_and_change_nothing() {
    let app = TestApp::seeded().await;
    let revision = app.revision("checkout").await;
    let export = || async {
        let text = app.get("/api/v1/export").await.text;
        sha256_hex(&text)
    };
    let before = export().await;
    let cases = cases(revision);
    assert!(cases.len() >= 300, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (i, case) in cases.into_iter().enumerate() {
        let mut headers: Vec<(&str, &str)> = case
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        if case.body.is_some() && !headers.iter().any(|(name, _)| *name == "content-type") {
            headers.push(("content-type", "application/json"));
        }
        let reply = app
            .raw(case.method.clone(), &case.uri, &headers, case.body)
            .await;
        let code = reply.json["error"]["code"].as_str().unwrap_or_default();
        let message = reply.json["error"]["message"].as_str().unwrap_or_default();
        if !reply.status.is_client_error() || code.is_empty() || message.is_empty() {
            let uri: String = case.uri.chars().take(120).collect();
            let text: String = reply.text.chars().take(300).collect();
            failures.push(format!(
                "#{i} {} {uri}: {} {text}",
                case.method, reply.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(export().await, before, "the export is unchanged");
    assert_eq!(app.revision("checkout").await, revision);
}
