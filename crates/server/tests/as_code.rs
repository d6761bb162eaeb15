//! Config as code through `POST /api/v1/apply`: a folder applied in one
//! change set, idempotently; a removed file tombstones its service (still
//! served, marked) until it comes back or the window ends; a service
//! changed by other means since is a conflict unless forced; files that
//! cannot be used hold their service's last good state.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use setpoint_server::{
    auth::Role,
    engine::{EngineConfig, ManualClock, now_millis},
};

use common::TestApp;

fn doc(service: &str, rps: u64) -> Value {
    json!({
        "service": service,
        "schema": {"throttle.rps": {"type": "int", "default": 100, "min": 1}},
        "values": {"prod": {"throttle.rps": rps}}
    })
}

/// The request for a folder of `files` (path, document).
fn folder(files: &[(&str, Value)]) -> Value {
    let files: Vec<Value> = files
        .iter()
        .map(|(file, document)| json!({"file": file, "document": document}))
        .collect();
    json!({"set": "team-repo", "source": "git:0123456789ab", "files": files})
}

fn with(mut request: Value, field: &str, value: Value) -> Value {
    request[field] = value;
    request
}

fn names(plan: &Value, kind: &str) -> Vec<String> {
    plan[kind]
        .as_array()
        .into_iter()
        .flatten()
        .map(|step| step["service"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn rps_served(app: &TestApp, service: &str) -> Value {
    let snapshot = app.get("/api/v1/environments/prod/snapshot").await;
    snapshot.json["services"][service].clone()
}

#[tokio::test]
async fn a_folder_is_applied_in_one_change_set_and_a_second_apply_changes_nothing() {
    let app = TestApp::seeded().await;
    let request = folder(&[
        ("payments/ledger.yaml", doc("ledger", 300)),
        ("search.json", doc("search", 50)),
    ]);

    let dry = app
        .post(
            "/api/v1/apply",
            with(request.clone(), "dry_run", json!(true)),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.text);
    assert_eq!(names(&dry.json["plan"], "create"), ["ledger", "search"]);
    assert_eq!(dry.json["changes"], json!([]));
    assert_eq!(
        app.get("/api/v1/services/ledger").await.status,
        StatusCode::NOT_FOUND
    );

    let first = app.post("/api/v1/apply", request.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let changes = first.json["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = changes.iter().filter_map(|c| c["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "service_created",
            "service_managed",
            "service_created",
            "service_managed"
        ]
    );
    for change in changes {
        assert_eq!(change["reason"], "apply team-repo at git:0123456789ab");
    }
    let revisions: Vec<u64> = changes
        .iter()
        .filter_map(|c| c["revision"].as_u64())
        .collect();
    assert!(
        revisions.windows(2).all(|w| w[1] == w[0] + 1),
        "one change set: {revisions:?}"
    );
    assert_eq!(
        rps_served(&app, "ledger").await["config"]["throttle.rps"],
        300
    );

    let ledger = app.get("/api/v1/services/ledger").await;
    assert_eq!(
        ledger.json["managed_by"],
        json!({"set": "team-repo", "file": "payments/ledger.yaml",
               "source": "git:0123456789ab", "revision": ledger.json["revision"]})
    );
    let listed = app.get("/api/v1/services").await;
    let summary = listed
        .json
        .as_array()
        .and_then(|all| all.iter().find(|s| s["service"] == "ledger"))
        .cloned();
    assert_eq!(
        summary.as_ref().map(|s| s["managed_by"]["file"].clone()),
        Some(json!("payments/ledger.yaml"))
    );

    let head = app.get("/api/v1/changes").await.json["changes"][0]["revision"].clone();
    let second = app.post("/api/v1/apply", request).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json["changes"], json!([]), "idempotent");
    assert_eq!(
        second.json["plan"]["unchanged"],
        json!(["ledger", "search"])
    );
    assert_eq!(
        app.get("/api/v1/changes").await.json["changes"][0]["revision"],
        head
    );
}

#[tokio::test]
async fn a_removed_file_tombstones_its_service_which_stays_served_until_reclaimed() {
    let clock = std::sync::Arc::new(ManualClock::new(now_millis()));
    let app = TestApp::seeded_with(EngineConfig {
        clock: clock.clone(),
        reclaim_after: Duration::from_hours(7 * 24),
    })
    .await;
    let both = folder(&[
        ("ledger.json", doc("ledger", 300)),
        ("search.json", doc("search", 50)),
    ]);
    assert_eq!(
        app.post("/api/v1/apply", both.clone()).await.status,
        StatusCode::OK
    );
    let served = rps_served(&app, "ledger").await;

    let without = folder(&[("search.json", doc("search", 50))]);
    let applied = app.post("/api/v1/apply", without.clone()).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(names(&applied.json["plan"], "tombstone"), ["ledger"]);
    assert_eq!(
        applied.json["plan"]["unchanged"],
        json!(["search"]),
        "checkout, never applied from files, is left alone"
    );
    let marked = rps_served(&app, "ledger").await;
    assert!(marked["tombstone"]["reclaim_at"].is_string(), "{marked}");
    assert_eq!(
        marked["config"], served["config"],
        "still served with its last config"
    );
    assert!(rps_served(&app, "checkout").await.is_object());

    // Adding the file back restores it.
    let restored = app.post("/api/v1/apply", both).await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
    assert_eq!(names(&restored.json["plan"], "restore"), ["ledger"]);
    assert_eq!(rps_served(&app, "ledger").await, served);

    // Removed again and left past its window: reclaimed, and logged.
    assert_eq!(
        app.post("/api/v1/apply", without.clone()).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::from_hours(7 * 24));
    app.engine.run_timers().await;
    assert!(rps_served(&app, "ledger").await.is_null(), "reclaimed");
    let log = app
        .get("/api/v1/changes?kind=service_reclaimed&service=ledger")
        .await;
    assert_eq!(log.json["changes"][0]["actor"], "setpoint", "{}", log.text);
    let again = app
        .post("/api/v1/apply", with(without, "dry_run", json!(true)))
        .await;
    assert_eq!(
        again.json["plan"]["tombstone"],
        json!([]),
        "nothing left to tombstone"
    );
}

#[tokio::test]
async fn a_service_changed_elsewhere_since_its_apply_is_a_conflict_unless_forced() {
    let app = TestApp::seeded().await;
    let request = folder(&[("ledger.json", doc("ledger", 300))]);
    assert_eq!(
        app.post("/api/v1/apply", request.clone()).await.status,
        StatusCode::OK
    );
    let edited = app
        .set_values("ledger", "prod", json!({"throttle.rps": 5}))
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    let listed = app.get("/api/v1/services").await;
    assert!(
        listed.json.as_array().is_some_and(|all| all
            .iter()
            .any(|s| s["service"] == "ledger" && s["drifts"] == true)),
        "{}",
        listed.text
    );

    let dry = app
        .post(
            "/api/v1/apply",
            with(request.clone(), "dry_run", json!(true)),
        )
        .await;
    let step = &dry.json["plan"]["change"][0];
    assert_eq!(step["service"], "ledger");
    assert_eq!(step["conflict"]["reason"], "drifted", "{}", dry.text);

    let refused = app.post("/api/v1/apply", request.clone()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "managed_elsewhere");
    let message = refused.json["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(message.contains("ledger (ledger.json)"), "{message}");
    assert_eq!(
        rps_served(&app, "ledger").await["config"]["throttle.rps"],
        5,
        "nothing written"
    );

    // A service created in the console is not taken over silently either.
    let mut checkout = app.get("/api/v1/services/checkout").await.json["doc"].clone();
    checkout["description"] = json!("from files");
    let take_over = folder(&[
        ("ledger.json", doc("ledger", 300)),
        ("checkout.json", checkout),
    ]);
    let refused = app.post("/api/v1/apply", take_over.clone()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    let plan = &refused.json["error"]["current"];
    assert_eq!(
        plan["change"][0]["conflict"]["reason"], "not_managed",
        "{plan}"
    );

    let forced = app
        .post(
            "/api/v1/apply",
            with(
                with(take_over, "force", json!(true)),
                "reason",
                json!("take over"),
            ),
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    assert_eq!(
        forced.json["changes"][0]["reason"],
        "take over (apply team-repo at git:0123456789ab)"
    );
    assert_eq!(
        rps_served(&app, "ledger").await["config"]["throttle.rps"],
        300
    );
    let ledger = app.get("/api/v1/services/ledger").await;
    assert_eq!(
        ledger.json["managed_by"]["revision"], ledger.json["revision"],
        "no longer drifting"
    );
}

#[tokio::test]
async fn a_held_file_keeps_its_service_and_a_bad_folder_changes_nothing() {
    let app = TestApp::seeded().await;
    let request = folder(&[
        ("ledger.json", doc("ledger", 300)),
        ("search.json", doc("search", 50)),
    ]);
    assert_eq!(
        app.post("/api/v1/apply", request).await.status,
        StatusCode::OK
    );

    // search.json is broken on disk: sent held, without its document.
    let broken_search = with(
        folder(&[("ledger.json", doc("ledger", 301))]),
        "hold",
        json!(["search"]),
    );
    let applied = app.post("/api/v1/apply", broken_search).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(applied.json["plan"]["tombstone"], json!([]));
    assert!(rps_served(&app, "search").await["tombstone"].is_null());
    assert_eq!(
        rps_served(&app, "ledger").await["config"]["throttle.rps"],
        301
    );

    // An invalid document or an unknown environment: refused whole, with
    // the file's place in the request.
    let mut bad = doc("search", 0);
    bad["values"]["nowhere"] = json!({});
    let head = app.get("/api/v1/changes").await.json["changes"][0]["revision"].clone();
    let refused = app
        .post(
            "/api/v1/apply",
            folder(&[("ledger.json", doc("ledger", 302)), ("search.json", bad)]),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    let paths: Vec<&str> = refused.json["error"]["details"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("files[1].document.values")),
        "{paths:?}"
    );
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(
        app.get("/api/v1/changes").await.json["changes"][0]["revision"],
        head
    );

    let bad_set = with(folder(&[]), "set", json!("no spaces allowed"));
    assert_eq!(
        app.post("/api/v1/apply", bad_set).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn anyone_who_reads_may_plan_but_only_admins_apply_and_a_scoped_plan_sees_its_part() {
    let app = TestApp::seeded().await;
    let request = folder(&[("ledger.json", doc("ledger", 300))]);
    assert_eq!(
        app.post("/api/v1/apply", request).await.status,
        StatusCode::OK
    );

    let viewer = app
        .token("ci", Role::Viewer, Some(&["checkout"]), None)
        .await;
    let auth = format!("Bearer {viewer}");
    let send = |body: Value| {
        let auth = auth.clone();
        let app = &app;
        async move {
            app.request(
                axum::http::Method::POST,
                "/api/v1/apply",
                &[("authorization", &auth)],
                Some(body),
            )
            .await
        }
    };
    let empty = folder(&[]);
    let refused = send(empty.clone()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    let planned = send(with(empty, "dry_run", json!(true))).await;
    assert_eq!(planned.status, StatusCode::OK, "{}", planned.text);
    assert_eq!(
        planned.json["plan"]["tombstone"],
        json!([]),
        "ledger lies outside the token's scope: not even named"
    );
    assert!(!planned.text.contains("ledger"), "{}", planned.text);
}
