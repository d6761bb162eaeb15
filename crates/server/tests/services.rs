//! Writes, conflicts, the change log and distribution, through `app()`.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::TestApp;
use futures_util::StreamExt;
use serde_json::{Value, json};
use setpoint_server::auth::Role;
use tower::ServiceExt;

fn patch(set: &Value, base: u64) -> Value {
    json!({"set": set, "base_revision": base, "reason": "test"})
}

#[tokio::test]
async fn a_value_patch_is_applied_logged_and_served() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(json!({"set": {"maintenance": true}, "remove_keys": ["throttle.rps"], "base_revision": base, "reason": "incident 42"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let revision = reply.json["revision"].as_u64().expect("revision");
    assert_eq!(reply.headers["etag"], format!("\"{revision}\""));
    assert_eq!(reply.json["kind"], "values_changed");
    assert_eq!(reply.json["before"]["throttle.rps"], 2000);
    assert_eq!(
        reply.json["after"],
        json!({"maintenance": true, "routing.weights": {"eu-central": 15, "us-east": 60, "us-west": 25}})
    );

    let snapshot = app.get("/api/v1/environments/prod/snapshot/checkout").await;
    assert_eq!(snapshot.status, StatusCode::OK);
    let config = &snapshot.json["services"]["checkout"]["config"];
    assert_eq!(config["maintenance"], true);
    assert_eq!(
        config["throttle.rps"], 500,
        "removed keys fall back to the default"
    );
    setpoint_core::snapshot::verify(snapshot.text.as_bytes()).expect("checksum verifies");

    let log = app
        .get("/api/v1/changes?service=checkout&kind=values_changed")
        .await;
    assert_eq!(log.json["changes"][0]["reason"], "incident 42");
    assert_eq!(log.json["changes"][0]["actor"], "token:test-admin");
}

#[tokio::test]
async fn a_stale_base_gets_409_with_the_current_state() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let first = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(patch(&json!({"throttle.rps": 900}), base)),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let second = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(patch(&json!({"throttle.rps": 700}), base)),
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(second.json["error"]["code"], "stale_revision");
    assert_eq!(
        second.json["error"]["current"]["doc"]["values"]["prod"]["throttle.rps"],
        900
    );
    assert_eq!(
        second.json["error"]["current"]["revision"],
        first.json["revision"]
    );
}

#[tokio::test]
async fn if_match_works_as_the_base_revision() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await.to_string();
    let quoted = format!("\"{base}\"");
    let body = json!({"set": {"throttle.rps": 900}});
    let ok = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("if-match", &quoted)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let stale = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("if-match", &quoted)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    let missing = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(body),
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(missing.json["error"]["code"], "missing_base_revision");
}

#[tokio::test]
async fn invalid_values_get_422_and_change_nothing() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(patch(&json!({"throttle.rps": 0, "nope": 1}), base)),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    let paths: Vec<&str> = reply.json["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        vec!["values.prod.nope", r#"values.prod["throttle.rps"]"#]
    );
    assert_eq!(app.revision("checkout").await, base);
}

#[tokio::test]
async fn a_schema_change_that_would_break_values_names_them() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let mut schema = app.get("/api/v1/services/checkout").await.json["doc"]["schema"].clone();
    schema["throttle.rps"]["max"] = json!(1000);
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/schema",
            &[],
            Some(json!({"schema": schema, "base_revision": base})),
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
        r#"values.prod["throttle.rps"]"#
    );
}

#[tokio::test]
async fn deleted_services_stay_in_snapshots_marked_and_can_be_restored() {
    let app = TestApp::seeded().await;
    let served = app.get("/api/v1/environments/prod/snapshot/checkout").await;
    let base = app.revision("checkout").await.to_string();
    let reply = app
        .request(
            Method::DELETE,
            "/api/v1/services/checkout?reason=retired",
            &[("if-match", &base)],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let listed = &app.get("/api/v1/services").await.json[0]["tombstone"];
    assert!(listed["reclaim_at"].is_string(), "{listed}");

    // Still served with its last config, marked with the same tombstone.
    let tombstoned = app.get("/api/v1/environments/prod/snapshot/checkout").await;
    assert_eq!(tombstoned.status, StatusCode::OK, "{}", tombstoned.text);
    let service = &tombstoned.json["services"]["checkout"];
    assert_eq!(&service["tombstone"], listed);
    assert!(
        service["tombstone"]["tombstoned_at"].is_string(),
        "{service}"
    );
    assert_eq!(
        service["config"],
        served.json["services"]["checkout"]["config"]
    );
    assert!(
        app.get("/api/v1/environments/prod/snapshot").await.json["services"]["checkout"]
            ["tombstone"]
            .is_object()
    );
    setpoint_core::snapshot::verify(tombstoned.text.as_bytes()).expect("checksum verifies");

    let restored = app
        .post(
            "/api/v1/services/checkout/restore",
            json!({"reason": "still used"}),
        )
        .await;
    assert_eq!(restored.status, StatusCode::OK, "{}", restored.text);
    let back = app.get("/api/v1/environments/prod/snapshot/checkout").await;
    assert_eq!(back.status, StatusCode::OK);
    assert!(back.json["services"]["checkout"].get("tombstone").is_none());
    assert_eq!(
        back.json["services"]["checkout"],
        served.json["services"]["checkout"]
    );
}

#[tokio::test]
async fn flags_are_put_and_deleted() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let flag = json!({"variants": {"a": "A", "b": "B"}, "off": "a",
                      "environments": {"prod": {"enabled": true, "default": {"split": {"weights": [{"variant": "a", "weight": 10}, {"variant": "b", "weight": 90}]}}}}});
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/exp",
            &[],
            Some(json!({"flag": flag, "base_revision": base})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["item"], "exp");
    let snapshot = app.get("/api/v1/environments/prod/snapshot").await;
    assert_eq!(
        snapshot.json["services"]["checkout"]["flags"]["exp"]["salt"],
        "exp"
    );
    let revision = reply.json["revision"]
        .as_u64()
        .expect("revision")
        .to_string();
    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/services/checkout/flags/exp",
            &[("if-match", &revision)],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    assert!(app.get("/api/v1/environments/prod/snapshot").await.json["services"]["checkout"]["flags"]["exp"].is_null());
}

#[tokio::test]
async fn snapshots_carry_an_etag_and_answer_304() {
    let app = TestApp::seeded().await;
    let first = app.get("/api/v1/environments/prod/snapshot").await;
    assert_eq!(first.status, StatusCode::OK);
    let etag = first.headers["etag"].to_str().expect("ascii").to_string();
    assert_eq!(
        etag,
        format!("\"{}\"", first.json["checksum"].as_str().expect("checksum"))
    );
    let again = app
        .request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
    // A change to staging does not alter prod's snapshot.
    let base = app.revision("checkout").await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/staging",
        &[],
        Some(patch(&json!({"throttle.rps": 42}), base)),
    )
    .await;
    let after = app
        .request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(after.status, StatusCode::NOT_MODIFIED);
    let staging = app.get("/api/v1/environments/staging/snapshot").await;
    assert_eq!(
        staging.json["services"]["checkout"]["config"]["throttle.rps"],
        42
    );
}

#[tokio::test]
async fn a_long_poll_wakes_on_change_and_times_out_without_one() {
    let app = TestApp::seeded().await;
    let current = app.get("/api/v1/environments/prod/snapshot").await.json["revision"]
        .as_u64()
        .expect("revision");

    let started = std::time::Instant::now();
    let idle = app
        .get(&format!(
            "/api/v1/environments/prod/snapshot?index={current}&wait=200ms"
        ))
        .await;
    assert_eq!(idle.status, StatusCode::OK);
    assert_eq!(
        idle.json["revision"], current,
        "no change: the same snapshot"
    );
    assert!(started.elapsed() >= Duration::from_millis(200), "it waited");

    let waiting = {
        let app_router = app.router.clone();
        let uri = format!("/api/v1/environments/prod/snapshot?index={current}&wait=30s");
        let bearer = format!("Bearer {}", app.admin);
        tokio::spawn(async move {
            let response = app_router
                .oneshot(
                    axum::http::Request::get(uri)
                        .header("authorization", bearer)
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response");
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body")
                .to_bytes();
            serde_json::from_slice::<Value>(&bytes).expect("json")
        })
    };
    // Once it is counted as a watcher it is waiting.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.engine.metrics().watchers() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the long-poll never waited"
        );
        tokio::task::yield_now().await;
    }
    assert!(!waiting.is_finished(), "it blocks while nothing changes");
    let base = app.revision("checkout").await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"throttle.rps": 901}), base)),
    )
    .await;
    let woken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("wakes")
        .expect("joins");
    assert!(woken["revision"].as_u64() > Some(current));
    assert_eq!(woken["services"]["checkout"]["config"]["throttle.rps"], 901);

    let too_long = app
        .get("/api/v1/environments/prod/snapshot?index=1&wait=301s")
        .await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_change_log_pages_with_a_cursor_and_filters() {
    let app = TestApp::seeded().await;
    for n in 0..5 {
        let base = app.revision("checkout").await;
        let reply = app
            .request(
                Method::PATCH,
                "/api/v1/services/checkout/values/dev",
                &[],
                Some(patch(&json!({"throttle.rps": 100 + n}), base)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let first = app.get("/api/v1/changes?limit=3").await;
    let revisions: Vec<u64> = first.json["changes"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["revision"].as_u64())
        .collect();
    assert_eq!(revisions.len(), 3);
    assert!(revisions.windows(2).all(|w| w[0] > w[1]), "newest first");
    let cursor = first.json["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/api/v1/changes?limit=3&cursor={cursor}"))
        .await;
    let next: Vec<u64> = second.json["changes"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["revision"].as_u64())
        .collect();
    assert!(
        next.iter().all(|r| *r < revisions[2]),
        "older than the first page"
    );

    let prod = app
        .get("/api/v1/changes?environment=prod&kind=values_changed")
        .await;
    assert_eq!(prod.json["changes"].as_array().expect("list").len(), 0);
    let dev = app
        .get("/api/v1/services/checkout/history?kind=values_changed")
        .await;
    assert_eq!(dev.json["changes"].as_array().expect("list").len(), 5);
    for bad in [
        "/api/v1/changes?kind=nope",
        "/api/v1/changes?limit=0",
        "/api/v1/changes?since=yesterday",
        "/api/v1/changes?cursor=x",
        "/api/v1/changes?colour=red",
    ] {
        let reply = app.get(bad).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
        assert_eq!(reply.json["error"]["code"], "invalid_query", "{bad}");
    }
}

#[tokio::test]
async fn concurrent_writers_on_one_base_exactly_one_wins() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let writers = (0..32).map(|n| {
        let app_router = app.router.clone();
        let bearer = format!("Bearer {}", app.admin);
        tokio::spawn(async move {
            let body = json!({"set": {"throttle.rps": 1000 + n}, "base_revision": base});
            let request = axum::http::Request::patch("/api/v1/services/checkout/values/prod")
                .header("content-type", "application/json")
                .header("authorization", &bearer)
                .body(axum::body::Body::from(body.to_string()))
                .expect("request");
            app_router
                .oneshot(request)
                .await
                .expect("response")
                .status()
        })
    });
    let statuses = futures_util::future::join_all(writers).await;
    let ok = statuses
        .iter()
        .filter(|s| matches!(s, Ok(StatusCode::OK)))
        .count();
    let conflicts = statuses
        .iter()
        .filter(|s| matches!(s, Ok(StatusCode::CONFLICT)))
        .count();
    assert_eq!((ok, conflicts), (1, 31), "{statuses:?}");
    assert_eq!(app.revision("checkout").await, base + 1);
    let log = app
        .get("/api/v1/changes?service=checkout&kind=values_changed")
        .await;
    assert_eq!(
        log.json["changes"].as_array().expect("list").len(),
        1,
        "nothing lost, nothing doubled"
    );
}

#[tokio::test]
async fn events_stream_changes_and_resume_from_last_event_id() {
    let app = TestApp::seeded().await;
    let resume_from = app.get("/api/v1/environments/prod/snapshot").await.json["revision"]
        .as_u64()
        .expect("revision");
    let base = app.revision("checkout").await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"throttle.rps": 111}), base)),
    )
    .await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/dev",
        &[],
        Some(patch(&json!({"throttle.rps": 222}), base + 1)),
    )
    .await;

    let request = axum::http::Request::get("/api/v1/environments/prod/events")
        .header("last-event-id", resume_from.to_string())
        .header("authorization", format!("Bearer {}", app.admin))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.router.clone().oneshot(request).await.expect("response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body().into_data_stream();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // The missed prod change is replayed; the dev change is not prod's.
    while !seen.contains("\"throttle.rps\":111") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("replayed in time")
            .expect("open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&format!("id: {}", base + 1)), "{seen}");
    assert!(!seen.contains("222"), "{seen}");

    // And it stays live.
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"throttle.rps": 333}), base + 2)),
    )
    .await;
    while !seen.contains("333") {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .expect("live in time")
            .expect("open")
            .expect("chunk");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&format!("id: {}", base + 3)), "{seen}");
}

#[tokio::test]
async fn a_quiet_event_stream_gets_a_comment_and_stays_live() {
    let app = TestApp::seeded().await;
    let request = axum::http::Request::get("/api/v1/environments/prod/events")
        .header("authorization", format!("Bearer {}", app.admin))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.router.clone().oneshot(request).await.expect("response");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let mut body = response.into_body().into_data_stream();

    // With the clock paused, an idle runtime jumps to its next timer: the
    // stream's keep-alive, due 15 s after it fell silent.
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let chunk = tokio::time::timeout(Duration::from_mins(1), body.next())
        .await
        .expect("a comment before a minute")
        .expect("open")
        .expect("chunk");
    assert_eq!(&chunk[..], b":\n\n");
    assert!(started.elapsed() >= Duration::from_secs(15));
    tokio::time::resume();

    let base = app.revision("checkout").await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"throttle.rps": 444}), base)),
    )
    .await;
    let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
        .await
        .expect("the change in time")
        .expect("open")
        .expect("chunk");
    let frame = String::from_utf8_lossy(&chunk);
    assert!(
        frame.starts_with(&format!("id: {}\nevent: change\ndata: {{", base + 1)),
        "{frame}"
    );
    assert!(frame.ends_with("}\n\n") && frame.contains("444"), "{frame}");
}

#[tokio::test]
async fn the_all_environments_stream_carries_every_environment_within_the_callers_scope() {
    let app = TestApp::seeded().await;
    let resume_from = app.get("/api/v1/environments/prod/snapshot").await.json["revision"]
        .as_u64()
        .expect("revision");
    let base = app.revision("checkout").await;
    for (env, value, revision) in [("prod", 111, base), ("dev", 222, base + 1)] {
        let reply = app
            .request(
                Method::PATCH,
                &format!("/api/v1/services/checkout/values/{env}"),
                &[],
                Some(patch(&json!({"throttle.rps": value}), revision)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    let read = |token: String| {
        let app_router = app.router.clone();
        async move {
            let request = axum::http::Request::get("/api/v1/events")
                .header("last-event-id", resume_from.to_string())
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .expect("request");
            let response = app_router.oneshot(request).await.expect("response");
            assert_eq!(response.status(), StatusCode::OK);
            let mut body = response.into_body().into_data_stream();
            let mut seen = String::new();
            // Both changes are in the log; a stream that skips one still
            // ends with the other, so wait for the last one.
            while !seen.contains(&format!("id: {}", base + 2)) {
                let chunk = tokio::time::timeout(Duration::from_secs(10), body.next())
                    .await
                    .expect("in time")
                    .expect("open")
                    .expect("chunk");
                seen.push_str(&String::from_utf8_lossy(&chunk));
            }
            seen
        }
    };
    let all = read(app.admin.clone()).await;
    assert!(all.contains("111") && all.contains("222"), "{all}");
    let dev_only = app
        .token("dev-reader", Role::Viewer, None, Some("dev"))
        .await;
    let seen = read(dev_only).await;
    assert!(seen.contains("222") && !seen.contains("111"), "{seen}");
}

#[tokio::test]
async fn verify_replays_the_log_and_catches_a_state_that_drifted() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let flag = json!({"variants": {"a": 1, "b": 2}, "off": "a", "environments": {}});
    app.request(
        Method::PUT,
        "/api/v1/services/checkout/flags/f",
        &[],
        Some(json!({"flag": flag, "base_revision": base})),
    )
    .await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"maintenance": true}), base + 1)),
    )
    .await;
    let report = setpoint_server::verify::verify(&*app.store)
        .await
        .expect("verifies");
    assert_eq!(report.problems, Vec::<String>::new());
    // The test's admin token, three environments, the service, two patches.
    assert_eq!(report.changes, 7);

    // Edit the state behind the log's back.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        app.dir.path().join("setpoint.db").display()
    ))
    .await
    .expect("opens");
    sqlx::query(
        "UPDATE services SET doc = replace(doc, '\"maintenance\":true', '\"maintenance\":false')",
    )
    .execute(&pool)
    .await
    .expect("tampers");
    let report = setpoint_server::verify::verify(&*app.store)
        .await
        .expect("verifies");
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("\"checkout\" differs"),
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn rollback_previews_its_diff_then_restores_as_a_new_change() {
    let app = TestApp::seeded().await;
    let created = app.revision("checkout").await;
    let prod = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[],
            Some(patch(&json!({"throttle.rps": 3000}), created)),
        )
        .await;
    assert_eq!(prod.status, StatusCode::OK);
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/dev",
            &[],
            Some(patch(&json!({"throttle.rps": 40}), created + 1)),
        )
        .await;
    let latest = reply.json["revision"].as_u64().expect("revision");

    let preview = app
        .post(
            "/api/v1/services/checkout/rollback",
            json!({"to_revision": created, "environment": "prod", "dry_run": true}),
        )
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.text);
    assert_eq!(
        preview.json["diff"],
        json!([{"path": "values.prod[\"throttle.rps\"]", "op": "changed", "before": 3000, "after": 2000}])
    );
    assert_eq!(
        app.revision("checkout").await,
        latest,
        "a dry run writes nothing"
    );

    let applied = app
        .post(
            "/api/v1/services/checkout/rollback",
            json!({"to_revision": created, "environment": "prod", "base_revision": latest, "reason": "bad rollout"}),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    let doc = app.get("/api/v1/services/checkout").await.json["doc"].clone();
    assert_eq!(doc["values"]["prod"]["throttle.rps"], 2000, "prod is back");
    assert_eq!(doc["values"]["dev"]["throttle.rps"], 40, "dev is untouched");
    let log = app.get("/api/v1/changes?kind=rollback").await;
    assert_eq!(
        log.json["changes"][0]["reason"],
        format!("rollback to revision {created}: bad rollout")
    );

    let whole = app
        .post(
            "/api/v1/services/checkout/rollback",
            json!({"to_revision": created, "base_revision": app.revision("checkout").await}),
        )
        .await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.text);
    assert!(app.get("/api/v1/services/checkout").await.json["doc"]["values"]["dev"].is_null());
    let report = setpoint_server::verify::verify(&*app.store)
        .await
        .expect("verifies");
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let before_it_existed = app
        .post(
            "/api/v1/services/checkout/rollback",
            json!({"to_revision": 1, "dry_run": true}),
        )
        .await;
    assert_eq!(before_it_existed.status, StatusCode::BAD_REQUEST);
    assert_eq!(before_it_existed.json["error"]["code"], "invalid_revision");
}

#[tokio::test]
async fn export_and_import_round_trip_all_or_nothing() {
    let source = TestApp::seeded().await;
    let export = source.get("/api/v1/export").await;
    assert_eq!(export.status, StatusCode::OK);
    assert_eq!(export.json["format"], "setpoint/1");

    let target = TestApp::new().await;
    let mut broken = export.json.clone();
    let mut second: Value = broken["services"][0].clone();
    second["service"] = json!("second");
    second["values"]["prod"]["throttle.rps"] = json!(-1);
    broken["services"]
        .as_array_mut()
        .expect("list")
        .push(second);
    let refused = target
        .post("/api/v1/import", json!({"document": broken}))
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert_eq!(
        refused.json["error"]["details"][0]["path"],
        r#"services[1].values.prod["throttle.rps"]"#
    );
    assert_eq!(
        target.get("/api/v1/environments").await.json,
        json!([]),
        "nothing was imported"
    );

    let imported = target
        .post(
            "/api/v1/import",
            json!({"document": export.json, "reason": "migration"}),
        )
        .await;
    assert_eq!(imported.status, StatusCode::OK, "{}", imported.text);
    assert_eq!(
        imported.json["changes"].as_array().expect("changes").len(),
        4,
        "3 environments and 1 service"
    );
    let again = target.get("/api/v1/export").await.json;
    assert_eq!(again["services"], export.json["services"]);
    assert_eq!(again["environments"], export.json["environments"]);

    let noop = target
        .post("/api/v1/import", json!({"document": export.json}))
        .await;
    assert_eq!(
        noop.json["changes"],
        json!([]),
        "importing the same state changes nothing"
    );
}

#[tokio::test]
async fn metrics_count_requests_writes_and_revisions_and_readyz_answers() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    app.request(
        Method::PATCH,
        "/api/v1/services/checkout/values/prod",
        &[],
        Some(patch(&json!({"throttle.rps": 9}), base)),
    )
    .await;
    app.get("/api/v1/services/nope").await;
    let metrics = app
        .request(Method::GET, "/metrics", &[("cookie", "none=1")], None)
        .await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text;
    assert!(
        text.contains(r#"setpoint_http_requests_total{route="/api/v1/services/{service}/values/{environment}",method="PATCH",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"setpoint_http_requests_total{route="/api/v1/services/{service}",method="GET",status="404"} 1"#), "{text}");
    // The test's admin token, three environments, one service, the patch.
    assert!(
        text.contains("setpoint_write_duration_seconds_count 6"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "setpoint_revision{{environment=\"prod\"}} {}",
            base + 1
        )),
        "{text}"
    );
    assert!(text.contains("setpoint_watchers 0"), "{text}");

    let ready = app
        .request(Method::GET, "/readyz", &[("cookie", "none=1")], None)
        .await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json["status"], "ready");
}

#[tokio::test]
async fn the_list_names_the_environments_a_service_configures() {
    let app = TestApp::seeded().await;
    let document = json!({
        "service": "quiet",
        "schema": {"n": {"type": "int", "default": 1}},
        "values": {"staging": {"n": 2}, "prod": {}}
    });
    let reply = app
        .post("/api/v1/services", json!({"document": document}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let environments_of = |list: &Value, name: &str| {
        list.as_array()
            .and_then(|l| l.iter().find(|s| s["service"] == name))
            .map(|s| s["environments"].clone())
    };
    let list = app.get("/api/v1/services").await.json;
    assert_eq!(
        environments_of(&list, "quiet"),
        Some(json!(["staging"])),
        "an empty set of overrides in prod is nothing of its own"
    );
    // checkout's breaker exists in every environment.
    assert_eq!(
        environments_of(&list, "checkout"),
        Some(json!(["dev", "prod", "staging"]))
    );
}

#[tokio::test]
async fn a_restart_serves_the_same_snapshot_revisions_and_etags() {
    let app = TestApp::seeded().await;
    let reply = app
        .set_values("checkout", "prod", json!({"throttle.rps": 901}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let read = |router: axum::Router, uri: String| {
        let bearer = format!("Bearer {}", app.admin);
        async move {
            let response = router
                .oneshot(
                    axum::http::Request::get(uri)
                        .header("authorization", bearer)
                        .body(axum::body::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("response");
            let headers = response.headers().clone();
            (
                headers["etag"].to_str().expect("etag").to_owned(),
                headers["x-setpoint-revision"]
                    .to_str()
                    .expect("revision")
                    .to_owned(),
            )
        }
    };
    let uris: Vec<String> = ["dev", "staging", "prod"]
        .iter()
        .flat_map(|env| {
            [
                format!("/api/v1/environments/{env}/snapshot"),
                format!("/api/v1/environments/{env}/snapshot/checkout"),
            ]
        })
        .collect();
    let mut before = Vec::new();
    for uri in &uris {
        before.push(read(app.router.clone(), uri.clone()).await);
    }
    assert_ne!(before[2].1, before[4].1, "staging is older than prod");

    let engine = setpoint_server::engine::Engine::start(
        app.store.clone(),
        setpoint_server::engine::EngineConfig::default(),
    )
    .await
    .expect("restarts");
    let restarted = app.router_over(engine);
    for (uri, expected) in uris.iter().zip(&before) {
        assert_eq!(
            &read(restarted.clone(), uri.clone()).await,
            expected,
            "{uri}: the revision and ETag survive a restart"
        );
    }
}

#[tokio::test]
async fn a_deleted_service_is_reclaimed_by_the_clock_after_its_window() {
    let clock = std::sync::Arc::new(setpoint_server::engine::ManualClock::new(
        setpoint_server::engine::now_millis(),
    ));
    let app = TestApp::seeded_with(setpoint_server::engine::EngineConfig {
        clock: clock.clone(),
        reclaim_after: Duration::from_hours(7 * 24),
    })
    .await;
    let base = app.revision("checkout").await;
    let deleted = app
        .request(
            Method::DELETE,
            "/api/v1/services/checkout?reason=retired",
            &[("if-match", &format!("\"{base}\""))],
            None,
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);

    clock.advance(Duration::from_hours(7 * 24 - 1));
    app.engine.run_timers().await;
    assert_eq!(
        app.get("/api/v1/services/checkout").await.status,
        StatusCode::OK,
        "restorable"
    );
    assert!(
        app.get("/api/v1/environments/prod/snapshot").await.json["services"]["checkout"]
            ["tombstone"]
            .is_object(),
        "still served, marked"
    );

    clock.advance(Duration::from_hours(1));
    app.engine.run_timers().await;
    assert_eq!(
        app.get("/api/v1/services/checkout").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/environments/prod/snapshot/checkout")
            .await
            .status,
        StatusCode::NOT_FOUND,
        "reclaimed: gone from snapshots"
    );
    assert!(
        app.get("/api/v1/environments/prod/snapshot").await.json["services"]["checkout"].is_null()
    );
    let log = app.get("/api/v1/changes?kind=service_reclaimed").await;
    assert_eq!(log.json["changes"][0]["actor"], "setpoint");
}

#[tokio::test]
async fn an_import_dry_run_says_what_would_change_and_changes_nothing() {
    let app = TestApp::seeded().await;
    let before = app.get("/api/v1/export").await.json;
    let mut document = before.clone();
    document["environments"]
        .as_array_mut()
        .expect("environments")
        .push(json!({"name": "qa", "description": "Testers'"}));
    document["services"][0]["description"] = json!("Checkout, rewritten");
    document["services"]
        .as_array_mut()
        .expect("services")
        .push(json!({"service": "ledger", "schema": {}}));

    let planned = app
        .post(
            "/api/v1/import",
            json!({"document": document, "dry_run": true}),
        )
        .await;
    assert_eq!(planned.status, StatusCode::OK, "{}", planned.text);
    let plan = &planned.json["plan"];
    assert_eq!(plan["environments"], json!(["qa"]));
    assert_eq!(plan["created"], json!(["ledger"]));
    assert_eq!(plan["replaced"][0]["service"], "checkout");
    assert_eq!(
        plan["replaced"][0]["diff"],
        json!([{"path": "description", "op": "changed", "before": before["services"][0]["description"], "after": "Checkout, rewritten"}])
    );
    assert_eq!(plan["unchanged"], 0);
    assert_eq!(planned.json["changes"], json!([]));
    assert_eq!(
        app.get("/api/v1/export").await.json,
        before,
        "a dry run changes nothing"
    );

    let applied = app
        .post("/api/v1/import", json!({"document": document}))
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(applied.json["plan"], *plan, "it did what it said");
    assert_eq!(applied.json["changes"].as_array().map(Vec::len), Some(3));
    let again = app
        .post(
            "/api/v1/import",
            json!({"document": document, "dry_run": true}),
        )
        .await;
    assert_eq!(
        again.json["plan"],
        json!({"environments": [], "created": [], "replaced": [], "unchanged": 2})
    );
}
