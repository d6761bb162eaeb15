//! The flags overview (`GET /api/v1/flags`): every flag across services,
//! its targeting per environment, its last change — cut to the caller's
//! scope like every other answer (tests/scopes.rs checks it with the rest).

mod common;

use axum::http::{Method, StatusCode};
use common::{EXAMPLE, TestApp, parts::Postgres};
use serde_json::{Value, json};
use setpoint_server::auth::Role;
use setpoint_wire::FlagLine;

async fn lines(app: &TestApp, headers: &[(&str, &str)]) -> Vec<FlagLine> {
    let reply = app
        .request(Method::GET, "/api/v1/flags", headers, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    serde_json::from_str(&reply.text).expect("the wire type reads the answer")
}

fn line<'a>(lines: &'a [FlagLine], service: &str, key: &str) -> &'a FlagLine {
    lines
        .iter()
        .find(|l| l.service == service && l.key == key)
        .unwrap_or_else(|| panic!("{service}/{key} is listed"))
}

async fn put_flag(app: &TestApp, service: &str, flag: &Value, reason: &str) {
    let base = app.revision(service).await;
    let reply = app
        .request(
            Method::PUT,
            &format!("/api/v1/services/{service}/flags/new-checkout-flow"),
            &[],
            Some(json!({"flag": flag, "base_revision": base, "reason": reason})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn every_flag_is_listed_with_what_it_serves_and_its_last_change() {
    lists_flags(TestApp::seeded().await).await;
}

/// The last changes come from the log, by SQL each backend runs.
#[tokio::test(flavor = "multi_thread")]
async fn every_flag_is_listed_on_postgresql_replicas_too() {
    let postgres = Postgres::start();
    lists_flags(TestApp::seeded_replicas(&postgres).await).await;
}

async fn lists_flags(app: TestApp) {
    let mut other: Value = serde_json::from_str(EXAMPLE).expect("example");
    other["service"] = json!("inventory");
    other["owners"] = json!(["team-stock"]);
    let reply = app
        .post(
            "/api/v1/services",
            json!({"document": other, "reason": "seed"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    app.settle().await;

    let before = lines(&app, &[]).await;
    assert_eq!(before.len(), 2, "one flag in each service: {before:?}");
    let flag = line(&before, "inventory", "new-checkout-flow");
    assert_eq!(flag.owners, ["team-stock"]);
    assert_eq!(flag.revision, app.revision("inventory").await);
    assert_eq!(
        flag.environments.keys().collect::<Vec<_>>(),
        ["prod", "staging"],
        "dev has no targeting: it serves off"
    );
    assert_eq!(flag.environments["prod"].rules, 2);
    assert_eq!(flag.environments["prod"].served(&flag.off), "off");
    assert_eq!(flag.environments["staging"].served(&flag.off), "on");
    assert!(
        flag.last_change.is_none(),
        "created with its service, never written on its own"
    );

    let mut edited: Value = serde_json::from_str(EXAMPLE).expect("example");
    let flag = &mut edited["flags"]["new-checkout-flow"];
    flag["environments"]["prod"]["default"] = json!({"split": {"weights": [{"variant": "on", "weight": 25}, {"variant": "off", "weight": 75}]}});
    flag["environments"]["staging"]["enabled"] = json!(false);
    put_flag(&app, "inventory", flag, "a quarter of prod").await;
    app.settle().await;

    let after = lines(&app, &[]).await;
    let flag = line(&after, "inventory", "new-checkout-flow");
    assert_eq!(flag.environments["prod"].served(&flag.off), "on 25 %");
    assert_eq!(
        flag.environments["staging"].served(&flag.off),
        "off (disabled)"
    );
    let stamp = flag
        .last_change
        .as_ref()
        .expect("the write is its last change");
    assert_eq!(
        (stamp.actor.as_str(), stamp.reason.as_str()),
        ("token:test-admin", "a quarter of prod")
    );
    assert!(
        line(&after, "checkout", "new-checkout-flow")
            .last_change
            .is_none(),
        "a flag of the same key in another service keeps its own history"
    );
}

#[tokio::test]
async fn a_scoped_reader_meets_only_its_environment_and_its_services() {
    let app = TestApp::seeded().await;
    let doc: Value = serde_json::from_str(EXAMPLE).expect("example");
    put_flag(
        &app,
        "checkout",
        &doc["flags"]["new-checkout-flow"],
        "everywhere",
    )
    .await;
    // A rollout in prod moves the flag there: its step is the latest change,
    // which a reader of staging must not meet.
    let base = app.revision("checkout").await;
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/new-checkout-flow/environments/prod/rollout",
            &[],
            Some(json!({
                "base_revision": base,
                "reason": "start in prod",
                "plan": {"variant": "on", "steps": [{"percent": 10, "hold": "1h"}]}
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let everything = lines(&app, &[]).await;
    let flag = line(&everything, "checkout", "new-checkout-flow");
    assert_eq!(flag.environments["prod"].served(&flag.off), "on 10 %");
    assert!(flag.environments["prod"].rollout.is_some());
    assert_eq!(
        flag.last_change.as_ref().map(|s| s.reason.as_str()),
        Some("start in prod")
    );

    let staging = format!(
        "Bearer {}",
        app.token("pm", Role::Rollout, None, Some("staging")).await
    );
    let seen = lines(&app, &[("authorization", &staging)]).await;
    let flag = line(&seen, "checkout", "new-checkout-flow");
    assert_eq!(flag.environments.keys().collect::<Vec<_>>(), ["staging"]);
    assert_eq!(
        flag.last_change.as_ref().map(|s| s.reason.as_str()),
        Some("everywhere"),
        "the prod rollout is not the staging reader's to see"
    );

    let elsewhere = format!(
        "Bearer {}",
        app.token("other", Role::Viewer, Some(&["inventory"]), None)
            .await
    );
    assert!(
        lines(&app, &[("authorization", &elsewhere)])
            .await
            .is_empty()
    );
}
