//! OFREP v1 as the protocol defines it: answers, keys by scope, errors in
//! OFREP's shape with its status codes, the bulk `ETag`, and metrics. The
//! real OpenFeature providers run against a real server in
//! `openfeature.rs` (Rust) and `e2e/openfeature.test.mjs` (Node).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use common::{Reply, TestApp};
use serde_json::{Value, json};
use setpoint_server::auth::Role;

const SINGLE: &str = "/ofrep/v1/evaluate/flags";

/// The seeded app, with a string flag split three ways in prod and a
/// disabled one beside the example's `new-checkout-flow`.
async fn app() -> TestApp {
    let app = TestApp::seeded().await;
    put_flag(
        &app,
        "checkout",
        "button-color",
        json!({
            "variants": {"blue": "#00f", "green": "#0f0", "red": "#f00"},
            "off": "blue",
            "environments": {"prod": {"enabled": true, "default": {"split": {"weights": [
                {"variant": "blue", "weight": 34}, {"variant": "green", "weight": 33}, {"variant": "red", "weight": 33}
            ]}}}}
        }),
    )
    .await;
    put_flag(&app, "checkout", "dark-mode", dark_mode(false)).await;
    app
}

/// An object flag serving `{"theme": "dark"}` in prod when `enabled`.
fn dark_mode(enabled: bool) -> Value {
    json!({
        "variants": {"on": {"theme": "dark"}, "off": {"theme": "light"}},
        "off": "off",
        "environments": {"prod": {"enabled": enabled, "default": {"variant": "on"}}}
    })
}

async fn put_flag(app: &TestApp, service: &str, key: &str, flag: Value) {
    let base = app.revision(service).await;
    let reply = app
        .request(
            Method::PUT,
            &format!("/api/v1/services/{service}/flags/{key}"),
            &[],
            Some(json!({"flag": flag, "base_revision": base})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

/// A bearer header value for a new viewer token.
async fn bearer(app: &TestApp, services: Option<&[&str]>, environment: Option<&str>) -> String {
    static TOKENS: AtomicUsize = AtomicUsize::new(0);
    let name = format!("ofrep-{}", TOKENS.fetch_add(1, Ordering::Relaxed));
    format!(
        "Bearer {}",
        app.token(&name, Role::Viewer, services, environment).await
    )
}

/// A raw POST: `auth` is the whole `Authorization` value; without it,
/// a cookie-less, token-less request.
async fn post(app: &TestApp, uri: &str, auth: Option<String>, body: String) -> Reply {
    let headers = match &auth {
        Some(auth) => vec![("authorization", auth.as_str())],
        // The harness adds the admin's token unless credentials are sent.
        None => vec![("cookie", "none=none")],
    };
    app.raw(Method::POST, uri, &headers, Some(body.into_bytes()))
        .await
}

async fn evaluate(app: &TestApp, bearer: &str, key: &str, context: Value) -> Reply {
    app.request(
        Method::POST,
        &format!("{SINGLE}/{key}"),
        &[("authorization", bearer)],
        Some(json!({"context": context})),
    )
    .await
}

async fn bulk(app: &TestApp, bearer: &str, context: Value, etag: Option<&str>) -> Reply {
    let mut headers = vec![("authorization", bearer)];
    if let Some(etag) = etag {
        headers.push(("if-none-match", etag));
    }
    app.request(
        Method::POST,
        SINGLE,
        &headers,
        Some(json!({"context": context})),
    )
    .await
}

/// OFREP's error shape, with no other fields.
fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.text);
    assert_eq!(reply.json["errorCode"], code, "{}", reply.text);
    assert!(
        reply.json["errorDetails"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{}",
        reply.text
    );
    let fields: Vec<&String> = reply.json.as_object().expect("an object").keys().collect();
    assert!(
        fields
            .iter()
            .all(|f| ["key", "errorCode", "errorDetails"].contains(&f.as_str())),
        "{}",
        reply.text
    );
}

#[tokio::test]
async fn a_token_of_one_service_evaluates_its_flags_by_their_own_keys() {
    let app = app().await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;

    let staff = evaluate(
        &app,
        &auth,
        "new-checkout-flow",
        json!({"targetingKey": "u1", "email": "ann@example.com"}),
    )
    .await;
    assert_eq!(staff.status, StatusCode::OK, "{}", staff.text);
    assert_eq!(
        staff.json,
        json!({"key": "new-checkout-flow", "value": true, "variant": "on", "reason": "TARGETING_MATCH", "metadata": {"service": "checkout"}})
    );
    let long = evaluate(
        &app,
        &auth,
        "checkout:new-checkout-flow",
        json!({"targetingKey": "u1", "email": "ann@example.com"}),
    )
    .await;
    assert_eq!(long.json["key"], "checkout:new-checkout-flow");
    assert_eq!(long.json["value"], true);

    // OFREP's other scheme: the token in `X-API-Key`.
    let by_key = app
        .raw(
            Method::POST,
            &format!("{SINGLE}/new-checkout-flow"),
            &[
                ("x-api-key", auth.trim_start_matches("Bearer ")),
                ("cookie", "none=none"),
            ],
            Some(br#"{"context": {"email": "ann@example.com"}}"#.to_vec()),
        )
        .await;
    assert_eq!(by_key.json["value"], true, "{}", by_key.text);

    let nobody = evaluate(
        &app,
        &auth,
        "new-checkout-flow",
        json!({"targetingKey": "u1"}),
    )
    .await;
    assert_eq!(nobody.json["reason"], "DEFAULT");
    assert_eq!(nobody.json["value"], false);

    let split = evaluate(
        &app,
        &auth,
        "button-color",
        json!({"targetingKey": "user-42"}),
    )
    .await;
    assert_eq!(split.json["reason"], "SPLIT", "{}", split.text);
    let served = split.json["variant"].as_str().expect("a variant");
    let colors = json!({"blue": "#00f", "green": "#0f0", "red": "#f00"});
    assert_eq!(split.json["value"], colors[served]);
    let again = evaluate(
        &app,
        &auth,
        "button-color",
        json!({"targetingKey": "user-42"}),
    )
    .await;
    assert_eq!(again.json["variant"], served, "sticky");

    let disabled = evaluate(&app, &auth, "dark-mode", json!({})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.text);
    assert_eq!(disabled.json["reason"], "DISABLED");
    assert_eq!(disabled.json["value"], json!({"theme": "light"}));

    let no_key = evaluate(&app, &auth, "button-color", json!({"country": "NL"})).await;
    assert_error(&no_key, StatusCode::BAD_REQUEST, "TARGETING_KEY_MISSING");
    assert_eq!(no_key.json["key"], "button-color");

    let missing = evaluate(&app, &auth, "no-such-flag", json!({})).await;
    assert_error(&missing, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND");
    assert_eq!(missing.json["key"], "no-such-flag");
}

#[tokio::test]
async fn a_token_of_many_services_names_flags_service_colon_flag() {
    let app = app().await;
    let auth = bearer(&app, None, Some("prod")).await;
    let long = evaluate(
        &app,
        &auth,
        "checkout:new-checkout-flow",
        json!({"targetingKey": "u", "email": "a@example.com"}),
    )
    .await;
    assert_eq!(long.json["value"], true, "{}", long.text);
    let bare = evaluate(&app, &auth, "new-checkout-flow", json!({})).await;
    assert_error(&bare, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND");
    assert!(
        bare.json["errorDetails"]
            .as_str()
            .is_some_and(|d| d.contains("checkout:new-checkout-flow")),
        "the error says how to name it: {}",
        bare.text
    );

    let reply = bulk(&app, &auth, json!({"targetingKey": "u"}), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let keys: Vec<&str> = reply.json["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f["key"].as_str().expect("key"))
        .collect();
    assert_eq!(
        keys,
        [
            "checkout:button-color",
            "checkout:dark-mode",
            "checkout:new-checkout-flow"
        ]
    );
    assert_eq!(reply.json["metadata"], json!({"environment": "prod"}));
}

#[tokio::test]
async fn the_token_s_environment_decides_and_nothing_outside_the_scope_exists() {
    let app = app().await;
    let mut other: Value = serde_json::from_str(common::EXAMPLE).expect("example");
    other["service"] = json!("inventory");
    let reply = app
        .post("/api/v1/services", json!({"document": other}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);

    let staging = bearer(&app, Some(&["checkout"]), Some("staging")).await;
    let reply = evaluate(&app, &staging, "new-checkout-flow", json!({})).await;
    assert_eq!(
        (reply.json["reason"].as_str(), reply.json["value"].as_bool()),
        (Some("STATIC"), Some(true)),
        "staging serves `on` to all: {}",
        reply.text
    );
    // The other service's flag is there, but not for this token: as
    // missing as a flag that never was.
    let hidden = evaluate(&app, &staging, "inventory:new-checkout-flow", json!({})).await;
    assert_error(&hidden, StatusCode::NOT_FOUND, "FLAG_NOT_FOUND");
    let never = evaluate(&app, &staging, "nothing:new-checkout-flow", json!({})).await;
    assert_eq!(
        hidden.json["errorDetails"]
            .as_str()
            .map(|d| d.replace("inventory", "nothing")),
        never.json["errorDetails"].as_str().map(str::to_owned)
    );
    let all = bulk(&app, &staging, json!({}), None).await;
    assert!(!all.text.contains("inventory"), "{}", all.text);
    assert_eq!(all.json["flags"].as_array().map(Vec::len), Some(3));

    let both = bearer(&app, None, Some("staging")).await;
    let all = bulk(&app, &both, json!({}), None).await;
    assert_eq!(
        all.json["flags"].as_array().map(Vec::len),
        Some(4),
        "{}",
        all.text
    );
    assert!(all.text.contains("\"inventory:new-checkout-flow\""));
}

#[tokio::test]
async fn the_bulk_etag_changes_with_the_flags_the_caller_sees_and_the_context() {
    let app = app().await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;
    let first = bulk(&app, &auth, json!({"targetingKey": "u"}), None).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let etag = first.headers["etag"].to_str().expect("etag").to_owned();

    let unchanged = bulk(&app, &auth, json!({"targetingKey": "u"}), Some(&etag)).await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
    assert_eq!(unchanged.headers["etag"], etag.as_str());
    assert!(unchanged.text.is_empty());

    let other_context = bulk(&app, &auth, json!({"targetingKey": "v"}), Some(&etag)).await;
    assert_eq!(other_context.status, StatusCode::OK);
    assert_ne!(other_context.headers["etag"], etag.as_str());

    // A config value is no flag: the answer stands.
    let reply = app
        .set_values("checkout", "prod", json!({"throttle.rps": 7}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let after_value = bulk(&app, &auth, json!({"targetingKey": "u"}), Some(&etag)).await;
    assert_eq!(after_value.status, StatusCode::NOT_MODIFIED);

    put_flag(&app, "checkout", "dark-mode", dark_mode(true)).await;
    let after_flag = bulk(&app, &auth, json!({"targetingKey": "u"}), Some(&etag)).await;
    assert_eq!(after_flag.status, StatusCode::OK);
    assert_ne!(after_flag.headers["etag"], etag.as_str());
    let dark = after_flag.json["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .find(|f| f["key"] == "dark-mode")
        .cloned();
    assert_eq!(
        dark,
        Some(
            json!({"key": "dark-mode", "value": {"theme": "dark"}, "variant": "on", "reason": "STATIC", "metadata": {"service": "checkout"}})
        )
    );

    // A flag outside the caller's environment changes nothing it sees.
    let etag = after_flag.headers["etag"]
        .to_str()
        .expect("etag")
        .to_owned();
    put_flag(
        &app,
        "checkout",
        "staging-only",
        json!({"variants": {"on": true, "off": false}, "off": "off"}),
    )
    .await;
    let after_new = bulk(&app, &auth, json!({"targetingKey": "u"}), Some(&etag)).await;
    assert_eq!(
        after_new.status,
        StatusCode::OK,
        "a new flag is a new answer, served `off` here"
    );
}

#[tokio::test]
async fn a_failing_flag_in_a_bulk_answer_is_an_item_not_a_failed_request() {
    let app = app().await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;
    let reply = bulk(&app, &auth, json!({"country": "NL"}), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let flags = reply.json["flags"].as_array().expect("flags");
    let color = flags
        .iter()
        .find(|f| f["key"] == "button-color")
        .expect("listed");
    assert_eq!(color["errorCode"], "TARGETING_KEY_MISSING", "{color}");
    assert!(color.get("value").is_none());
    let flow = flags
        .iter()
        .find(|f| f["key"] == "new-checkout-flow")
        .expect("listed");
    assert_eq!(
        flow["errorCode"], "TARGETING_KEY_MISSING",
        "the NL split: {flow}"
    );
    let dark = flags
        .iter()
        .find(|f| f["key"] == "dark-mode")
        .expect("listed");
    assert_eq!(dark["reason"], "DISABLED");
}

#[tokio::test]
async fn bad_requests_are_4xx_in_ofrep_s_shape_and_never_5xx() {
    let app = app().await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;
    let one = format!("{SINGLE}/new-checkout-flow");
    let admin = format!("Bearer {}", app.admin);
    let deep = format!(
        "{{\"context\": {{\"a\": {}1{}}}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let huge = format!(
        "{{\"context\": {{\"targetingKey\": \"u\", \"blob\": \"{}\"}}}}",
        "x".repeat(100_000)
    );
    for uri in [one.as_str(), SINGLE] {
        let send = |auth: Option<&str>, body: &str| {
            post(&app, uri, auth.map(str::to_owned), body.to_owned())
        };
        let mine = Some(auth.as_str());

        let reply = send(mine, "{\"context\": ").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "PARSE_ERROR");
        let reply = send(mine, "[1, 2]").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "PARSE_ERROR");
        let reply = send(mine, &deep).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "PARSE_ERROR");
        let reply = send(mine, "{\"context\": [1]}").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_CONTEXT");
        let reply = send(mine, "{\"context\": {\"targetingKey\": 42}}").await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_CONTEXT");
        let reply = send(mine, &huge).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_CONTEXT");

        let reply = send(None, "{\"context\": {}}").await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "GENERAL");
        let reply = send(Some("Bearer sp_nope_nope"), "{\"context\": {}}").await;
        assert_error(&reply, StatusCode::UNAUTHORIZED, "GENERAL");
        // OFREP evaluates in one environment: an unlimited caller has none.
        let reply = send(Some(&admin), "{\"context\": {}}").await;
        assert_error(&reply, StatusCode::FORBIDDEN, "GENERAL");

        // Unknown fields are the protocol's future, not an error; an empty
        // body is an empty context.
        let reply = send(
            mine,
            "{\"context\": {\"targetingKey\": \"u\"}, \"later\": 1}",
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let reply = send(mine, "").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let agent = app
        .token("agent-prod", Role::Agent, None, Some("prod"))
        .await;
    let source = app
        .token("alerts", Role::AlertSource, None, Some("prod"))
        .await;
    let reply = bulk(&app, &format!("Bearer {agent}"), json!({}), None).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "an agent reads what its snapshots hold"
    );
    let reply = bulk(&app, &format!("Bearer {source}"), json!({}), None).await;
    assert_error(&reply, StatusCode::FORBIDDEN, "GENERAL");

    let reply = app
        .request(Method::POST, "/ofrep/v1/nothing", &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn evaluations_are_counted_by_reason_and_error_code() {
    let app = app().await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;
    evaluate(&app, &auth, "button-color", json!({"targetingKey": "a"})).await;
    evaluate(&app, &auth, "button-color", json!({})).await;
    evaluate(&app, &auth, "nothing", json!({})).await;
    bulk(&app, &auth, json!({"targetingKey": "a"}), None).await;
    let metrics = app.get("/metrics").await.text;
    let count = |labels: &str| -> u64 {
        let prefix = format!("setpoint_ofrep_evaluations_total{{{labels}}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix}in {metrics}"))
    };
    assert_eq!(count(r#"reason="SPLIT""#), 2);
    assert_eq!(count(r#"reason="DISABLED""#), 1);
    assert_eq!(count(r#"reason="DEFAULT""#), 1);
    assert_eq!(
        count(r#"reason="ERROR",error_code="TARGETING_KEY_MISSING""#),
        1
    );
    assert_eq!(count(r#"reason="ERROR",error_code="FLAG_NOT_FOUND""#), 1);
    assert_eq!(count(r#"reason="TARGETING_MATCH""#), 0);
}

#[tokio::test]
async fn a_context_costing_too_much_pattern_matching_is_refused_before_matching() {
    let app = app().await;
    // The largest pattern a document may hold: matching a byte against it
    // costs ~3 µs, so 60 KB of context would cost ~0.2 s per flag.
    put_flag(
        &app,
        "checkout",
        "pattern-heavy",
        json!({
            "variants": {"on": true, "off": false},
            "off": "off",
            "environments": {"prod": {"enabled": true, "default": {"variant": "off"}, "rules": [
                {"when": [{"attribute": "note", "op": "matches", "value": "(?:[a-z]x){128}"}], "serve": {"variant": "on"}}
            ]}}
        }),
    )
    .await;
    let auth = bearer(&app, Some(&["checkout"]), Some("prod")).await;
    let costly = json!({"targetingKey": "u", "note": "ax".repeat(30_000)});
    let reply = evaluate(&app, &auth, "pattern-heavy", costly.clone()).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_CONTEXT");
    assert_eq!(reply.json["key"], "pattern-heavy");
    let reply = bulk(&app, &auth, costly, None).await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "INVALID_CONTEXT");

    let cheap = json!({"targetingKey": "u", "note": "ax".repeat(128)});
    let reply = evaluate(&app, &auth, "pattern-heavy", cheap.clone()).await;
    assert_eq!(reply.json["value"], true, "{}", reply.text);
    let reply = bulk(&app, &auth, cheap, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}
