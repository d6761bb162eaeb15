//! The fleet, through `app()`: the agent role's narrow powers, reports and
//! the states derived from them, scope, restart, forgetting, metrics and
//! the event stream. (The agent itself, against real etcd: tests/agent.rs.)

mod common;

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use common::{TestApp, reply};
use futures_util::StreamExt;
use serde_json::{Value, json};
use setpoint_server::{
    auth::Role,
    engine::{Engine, EngineConfig, ManualClock, now_millis},
};
use tower::ServiceExt;

fn report(cluster: &str, environment: &str, revision: Option<u64>) -> Value {
    json!({
        "cluster": cluster,
        "namespace": "payments",
        "environment": environment,
        "revision": revision,
        "sinks": [{"name": "etcd:/setpoint/prod", "ok": true, "revision": revision}],
        "version": "0.1.0",
        "heartbeat_secs": 10,
    })
}

async fn agent(app: &TestApp, environment: &str) -> String {
    format!(
        "Bearer {}",
        app.token(
            &format!("agent-{environment}"),
            Role::Agent,
            None,
            Some(environment)
        )
        .await
    )
}

fn prod_revision(app: &TestApp) -> u64 {
    app.engine
        .snapshots()
        .current("prod")
        .expect("prod")
        .revision
}

/// The fleet as `bearer` sees it.
async fn fleet(app: &TestApp, bearer: &str) -> Value {
    let reply = app
        .request(
            Method::GET,
            "/api/v1/fleet",
            &[("authorization", bearer)],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json
}

#[tokio::test]
async fn an_agent_token_reads_its_snapshot_and_reports_nothing_else() {
    let app = TestApp::seeded().await;
    let agent = agent(&app, "prod").await;
    let auth = [("authorization", agent.as_str())];
    for (method, uri, expected) in [
        (
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/environments/prod/snapshot/checkout",
            StatusCode::OK,
        ),
        (
            Method::GET,
            "/api/v1/environments/dev/snapshot",
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, "/api/v1/services", StatusCode::FORBIDDEN),
        (
            Method::GET,
            "/api/v1/services/checkout",
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, "/api/v1/changes", StatusCode::FORBIDDEN),
        (Method::GET, "/api/v1/export", StatusCode::FORBIDDEN),
        (Method::GET, "/api/v1/fleet", StatusCode::FORBIDDEN),
        (Method::GET, "/api/v1/events", StatusCode::FORBIDDEN),
        (
            Method::GET,
            "/api/v1/environments/prod/events",
            StatusCode::FORBIDDEN,
        ),
        (Method::GET, "/api/v1/tokens", StatusCode::FORBIDDEN),
    ] {
        let reply = app.request(method.clone(), uri, &auth, None).await;
        assert_eq!(reply.status, expected, "{method} {uri}: {}", reply.text);
    }
    let reply = app
        .request(
            Method::POST,
            "/api/v1/hooks/alertmanager",
            &auth,
            Some(json!({"version": "4", "status": "firing", "alerts": []})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);

    let ok = app
        .request(
            Method::POST,
            "/api/v1/fleet/reports",
            &auth,
            Some(report("eu-1", "prod", Some(1))),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let other_env = app
        .request(
            Method::POST,
            "/api/v1/fleet/reports",
            &auth,
            Some(report("eu-1", "dev", Some(1))),
        )
        .await;
    assert_eq!(
        other_env.status,
        StatusCode::FORBIDDEN,
        "{}",
        other_env.text
    );

    // People and other machines cannot pose as an agent.
    for role in [Role::Admin, Role::Viewer, Role::AlertSource] {
        let token = format!(
            "Bearer {}",
            app.token(&format!("x-{}", role.as_str()), role, None, None)
                .await
        );
        let reply = app
            .request(
                Method::POST,
                "/api/v1/fleet/reports",
                &[("authorization", &token)],
                Some(report("eu-1", "prod", Some(1))),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", role.as_str());
    }
}

#[tokio::test]
async fn agent_tokens_need_an_environment_and_people_cannot_hold_the_role() {
    let app = TestApp::seeded().await;
    let reply = app
        .post(
            "/api/v1/tokens",
            json!({"name": "agent-x", "role": "agent"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["code"], "agent_needs_environment");
    let reply = app
        .post(
            "/api/v1/tokens",
            json!({"name": "agent-x", "role": "agent", "environment": "prod"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let reply = app
        .post(
            "/api/v1/users",
            json!({"username": "bot", "password": "a-long-enough-password", "role": "agent"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["code"], "machine_role");
}

#[tokio::test]
async fn bad_reports_are_refused_and_change_nothing() {
    let app = TestApp::seeded().await;
    let agent = agent(&app, "prod").await;
    let auth = [("authorization", agent.as_str())];
    let mut bad_cluster = report("eu 1", "prod", Some(1));
    let mut no_heartbeat = report("eu-1", "prod", Some(1));
    no_heartbeat["heartbeat_secs"] = json!(0);
    let mut unknown_field = report("eu-1", "prod", Some(1));
    unknown_field["admin"] = json!(true);
    let mut too_many_sinks = report("eu-1", "prod", Some(1));
    too_many_sinks["sinks"] = json!(vec![json!({"name": "x", "ok": true}); 17]);
    bad_cluster["checksum"] = json!("not-hex");
    for body in [bad_cluster, no_heartbeat, unknown_field, too_many_sinks] {
        let reply = app
            .request(Method::POST, "/api/v1/fleet/reports", &auth, Some(body))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text);
    }
    let missing_env = agent_for_missing(&app).await;
    let reply = app
        .request(
            Method::POST,
            "/api/v1/fleet/reports",
            &[("authorization", missing_env.as_str())],
            Some(report("eu-1", "qa", Some(1))),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text);
    assert_eq!(
        fleet(&app, &format!("Bearer {}", app.admin)).await,
        json!([])
    );
}

async fn agent_for_missing(app: &TestApp) -> String {
    format!(
        "Bearer {}",
        app.token("agent-qa", Role::Agent, None, Some("qa")).await
    )
}

#[tokio::test]
async fn a_cluster_is_in_sync_behind_failing_or_stale() {
    let clock = Arc::new(ManualClock::new(now_millis()));
    let app = TestApp::seeded_with(EngineConfig {
        clock: clock.clone(),
        ..EngineConfig::default()
    })
    .await;
    let agent = agent(&app, "prod").await;
    let admin = format!("Bearer {}", app.admin);
    let send = |body: Value| {
        let agent = agent.clone();
        let app = &app;
        async move {
            app.request(
                Method::POST,
                "/api/v1/fleet/reports",
                &[("authorization", agent.as_str())],
                Some(body),
            )
            .await
        }
    };
    let desired = prod_revision(&app);
    let answer = send(report("eu-1", "prod", Some(desired))).await;
    assert_eq!(answer.json["state"], "in_sync", "{}", answer.text);
    assert_eq!(answer.json["desired"], desired);

    // A change in prod: the cluster is behind until it reports the new one.
    let changed = app
        .set_values("checkout", "prod", json!({"throttle.rps": 1234}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    let view = fleet(&app, &admin).await;
    assert_eq!(view[0]["state"], "behind", "{view}");
    assert_eq!(view[0]["lag"], prod_revision(&app) - desired);
    send(report("eu-1", "prod", Some(prod_revision(&app)))).await;
    assert_eq!(fleet(&app, &admin).await[0]["state"], "in_sync");

    let mut failing = report("eu-1", "prod", Some(prod_revision(&app)));
    failing["error"] = json!("central: connection refused");
    send(failing).await;
    let view = fleet(&app, &admin).await;
    assert_eq!(view[0]["state"], "failing");
    assert_eq!(view[0]["report"]["error"], "central: connection refused");

    // Three heartbeats of silence.
    clock.advance(Duration::from_secs(31));
    assert_eq!(fleet(&app, &admin).await[0]["state"], "stale");
    send(report("eu-1", "prod", Some(prod_revision(&app)))).await;
    assert_eq!(fleet(&app, &admin).await[0]["state"], "in_sync");
}

#[tokio::test]
async fn a_service_limited_agent_is_measured_by_its_services() {
    let app = TestApp::seeded().await;
    let document: Value =
        serde_json::from_str(&common::EXAMPLE.replace("\"checkout\"", "\"search\"")).expect("json");
    let search = app
        .post("/api/v1/services", json!({ "document": document }))
        .await;
    assert_eq!(search.status, StatusCode::CREATED, "{}", search.text);
    let scoped = format!(
        "Bearer {}",
        app.token("agent-search", Role::Agent, Some(&["search"]), Some("prod"))
            .await
    );
    let written = prod_revision(&app);
    // It claims every service; its token limits it to search.
    let reply = app
        .request(
            Method::POST,
            "/api/v1/fleet/reports",
            &[("authorization", scoped.as_str())],
            Some(report("eu-1", "prod", Some(written))),
        )
        .await;
    assert_eq!(reply.json["report"]["services"], json!(["search"]));
    // A change to checkout does not make the search agent behind.
    app.set_values("checkout", "prod", json!({"throttle.rps": 4321}))
        .await;
    let view = fleet(&app, &format!("Bearer {}", app.admin)).await;
    assert_eq!(view[0]["state"], "in_sync", "{view}");
}

#[tokio::test]
async fn readers_see_the_clusters_of_their_scope_only() {
    let app = TestApp::seeded().await;
    for environment in ["prod", "dev"] {
        let agent = agent(&app, environment).await;
        let mut body = report(&format!("{environment}-cluster"), environment, Some(1));
        if environment == "dev" {
            body["services"] = json!(["checkout"]);
        }
        app.request(
            Method::POST,
            "/api/v1/fleet/reports",
            &[("authorization", agent.as_str())],
            Some(body),
        )
        .await;
    }
    let clusters = |view: &Value| -> Vec<String> {
        view.as_array()
            .expect("list")
            .iter()
            .map(|c| c["report"]["cluster"].as_str().expect("name").to_owned())
            .collect()
    };
    let everyone = fleet(&app, &format!("Bearer {}", app.admin)).await;
    assert_eq!(clusters(&everyone), ["dev-cluster", "prod-cluster"]);
    let dev_viewer = format!(
        "Bearer {}",
        app.token("dev-viewer", Role::Viewer, None, Some("dev"))
            .await
    );
    assert_eq!(clusters(&fleet(&app, &dev_viewer).await), ["dev-cluster"]);
    let search_viewer = format!(
        "Bearer {}",
        app.token("search-viewer", Role::Viewer, Some(&["search"]), None)
            .await
    );
    assert_eq!(
        clusters(&fleet(&app, &search_viewer).await),
        ["prod-cluster"],
        "the dev agent delivers only checkout; the prod agent delivers every service"
    );
    let filtered = app.get("/api/v1/fleet?environment=dev").await;
    assert_eq!(clusters(&filtered.json), ["dev-cluster"]);
}

#[tokio::test]
async fn reports_survive_a_restart_and_admins_forget_clusters() {
    let app = TestApp::seeded().await;
    let agent = agent(&app, "prod").await;
    let revision = prod_revision(&app);
    app.request(
        Method::POST,
        "/api/v1/fleet/reports",
        &[("authorization", agent.as_str())],
        Some(report("eu-1", "prod", Some(revision))),
    )
    .await;

    let engine = Engine::start(app.store.clone(), EngineConfig::default())
        .await
        .expect("engine restarts");
    let restarted = app.router_over(engine);
    let get = |uri: &str, bearer: String| {
        axum::http::Request::get(uri)
            .header("authorization", bearer)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let view = reply(
        restarted
            .clone()
            .oneshot(get("/api/v1/fleet", format!("Bearer {}", app.admin)))
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(view.json[0]["report"]["cluster"], "eu-1", "{}", view.text);
    assert_eq!(view.json[0]["state"], "in_sync");

    let viewer = format!(
        "Bearer {}",
        app.token("auditor", Role::Viewer, None, None).await
    );
    let forget = |bearer: &str| {
        axum::http::Request::delete("/api/v1/fleet/prod/eu-1?namespace=payments")
            .header("authorization", bearer)
            .body(axum::body::Body::empty())
            .expect("request")
    };
    let refused = reply(
        restarted
            .clone()
            .oneshot(forget(&viewer))
            .await
            .expect("ok"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let admin = format!("Bearer {}", app.admin);
    let done = reply(restarted.clone().oneshot(forget(&admin)).await.expect("ok")).await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.text);
    let again = reply(restarted.clone().oneshot(forget(&admin)).await.expect("ok")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let engine = Engine::start(app.store.clone(), EngineConfig::default())
        .await
        .expect("engine restarts");
    let view = reply(
        app.router_over(engine)
            .oneshot(get("/api/v1/fleet", admin.clone()))
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(view.json, json!([]), "gone from the store too");
}

#[tokio::test]
async fn metrics_count_clusters_by_state() {
    let app = TestApp::seeded().await;
    let agent = agent(&app, "prod").await;
    app.request(
        Method::POST,
        "/api/v1/fleet/reports",
        &[("authorization", agent.as_str())],
        Some(report("eu-1", "prod", Some(0))),
    )
    .await;
    let metrics = app.request(Method::GET, "/metrics", &[], None).await;
    assert!(
        metrics
            .text
            .contains("setpoint_fleet_clusters{environment=\"prod\",state=\"behind\"} 1"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("setpoint_fleet_clusters{environment=\"prod\",state=\"in_sync\"} 0")
    );
    let lag = prod_revision(&app);
    assert!(metrics.text.contains(&format!(
        "setpoint_fleet_lag_revisions{{environment=\"prod\",state=\"behind\"}} {lag}"
    )));
}

#[tokio::test]
async fn reports_reach_the_event_stream_within_scope() {
    let app = TestApp::seeded().await;
    let dev_viewer = format!(
        "Bearer {}",
        app.token("dev-viewer", Role::Viewer, None, Some("dev"))
            .await
    );
    let open = |bearer: String| {
        let router = app.router.clone();
        async move {
            let request = axum::http::Request::get("/api/v1/events")
                .header("authorization", bearer)
                .body(axum::body::Body::empty())
                .expect("request");
            router
                .oneshot(request)
                .await
                .expect("response")
                .into_body()
                .into_data_stream()
        }
    };
    let mut everything = open(format!("Bearer {}", app.admin)).await;
    let mut dev_only = open(dev_viewer).await;
    for environment in ["prod", "dev"] {
        let agent = agent(&app, environment).await;
        app.request(
            Method::POST,
            "/api/v1/fleet/reports",
            &[("authorization", agent.as_str())],
            Some(report(
                &format!("{environment}-cluster"),
                environment,
                Some(1),
            )),
        )
        .await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !(seen.contains("prod-cluster") && seen.contains("dev-cluster")) {
        let chunk = tokio::time::timeout_at(deadline, everything.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: fleet\ndata: {"), "{seen}");
    let mut dev_seen = String::new();
    while !dev_seen.contains("dev-cluster") {
        let chunk = tokio::time::timeout_at(deadline, dev_only.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("chunk");
        dev_seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(!dev_seen.contains("prod-cluster"), "{dev_seen}");
}

#[tokio::test]
async fn the_fleet_is_bounded_and_a_full_one_still_takes_known_clusters() {
    let app = TestApp::seeded().await;
    let router = setpoint_server::app(
        setpoint_server::AppState::new(
            Arc::clone(&app.engine),
            app.store.clone(),
            app.dir.path().join("no-console"),
        )
        .with_max_clusters(2),
    );
    let agent = agent(&app, "prod").await;
    let send = |cluster: &str| {
        let request = axum::http::Request::post("/api/v1/fleet/reports")
            .header("authorization", &agent)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                report(cluster, "prod", Some(1)).to_string(),
            ))
            .expect("request");
        let router = router.clone();
        async move { reply(router.oneshot(request).await.expect("response")).await }
    };
    assert_eq!(send("a").await.status, StatusCode::OK);
    assert_eq!(send("b").await.status, StatusCode::OK);
    let full = send("c").await;
    assert_eq!(full.status, StatusCode::CONFLICT, "{}", full.text);
    assert_eq!(full.json["error"]["code"], "fleet_full");
    assert_eq!(
        send("a").await.status,
        StatusCode::OK,
        "a known cluster still reports"
    );
}
