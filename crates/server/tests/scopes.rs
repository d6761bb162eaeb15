//! A scope limits what a principal **sees**: every read endpoint × every
//! kind of scope, asserting that nothing outside the scope appears in any
//! body or event — and, so the check can fail, that an unscoped reader
//! does meet every marker.

mod common;

use std::time::Duration;

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use common::{EXAMPLE, TestApp};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use setpoint_server::auth::Role;
use tower::ServiceExt;

/// A service only the unscoped and the environment-limited may see.
const OTHER_SERVICE: &str = "inventory-zq";
/// A token whose creation only the unscoped may see in the log.
const ROSTER: &str = "roster-zq";
/// The label of an alert no breaker claims.
const UNROUTED: &str = "UnroutedZq";

/// What must not appear for each part of a scope.
struct Markers {
    /// Text that reveals another service.
    service: &'static [&'static str],
    /// Text that reveals another environment.
    environment: &'static [&'static str],
    /// Text that reveals users, tokens or unrouted alerts.
    global: &'static [&'static str],
}

const MARKERS: Markers = Markers {
    service: &[OTHER_SERVICE],
    environment: &["\"prod\"", "\"dev\""],
    global: &[
        ROSTER,
        "token_created",
        "user_saved",
        "user_deleted",
        UNROUTED,
    ],
};

struct World {
    app: TestApp,
}

/// Two services with values, flags and breakers in every environment, a
/// tripped breaker, a token in the log and an unrouted alert.
async fn world() -> World {
    let app = TestApp::seeded().await;
    let mut other: Value = serde_json::from_str(EXAMPLE).expect("example");
    other["service"] = json!(OTHER_SERVICE);
    other["values"]["dev"] = json!({"throttle.rps": 3});
    let reply = app
        .post("/api/v1/services", json!({"document": other}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    for service in ["checkout", OTHER_SERVICE] {
        for env in ["dev", "prod"] {
            let reply = app
                .post(
                    &format!("/api/v1/services/{service}/breakers/payments-provider/environments/{env}/trip"),
                    json!({"reason": "drill"}),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        }
    }
    app.token(ROSTER, Role::Viewer, None, None).await;
    let user = format!("{ROSTER}-user");
    let created = app
        .post(
            "/api/v1/users",
            json!({"username": user, "password": "a long enough password", "role": "viewer"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let deleted = app
        .request(Method::DELETE, &format!("/api/v1/users/{user}"), &[], None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    let hook = format!(
        "Bearer {}",
        app.token("alertmanager", Role::AlertSource, None, None)
            .await
    );
    let reply = app
        .request(
            Method::POST,
            "/api/v1/hooks/alertmanager",
            &[("authorization", &hook)],
            Some(json!({
                "version": "4",
                "receiver": "setpoint",
                "status": "firing",
                "alerts": [{
                    "status": "firing",
                    "labels": {"alertname": UNROUTED},
                    "startsAt": "2026-11-22T08:00:00.000Z"
                }]
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    // Agents: one in prod delivering only the other service, one
    // delivering all of dev.
    for (environment, services) in [("prod", json!([OTHER_SERVICE])), ("dev", Value::Null)] {
        let agent = format!(
            "Bearer {}",
            app.token(
                &format!("agent-{environment}"),
                Role::Agent,
                None,
                Some(environment)
            )
            .await
        );
        let reply = app
            .request(
                Method::POST,
                "/api/v1/fleet/reports",
                &[("authorization", &agent)],
                Some(json!({
                    "cluster": format!("{environment}-cluster"),
                    "environment": environment,
                    "services": services,
                    "revision": 1,
                    "heartbeat_secs": 10,
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    rollouts(&app).await;
    held_requests(&app).await;
    World { app }
}

/// Progressive rollouts of the flag: the other service's in prod,
/// checkout's in staging.
async fn rollouts(app: &TestApp) {
    for (service, env) in [(OTHER_SERVICE, "prod"), ("checkout", "staging")] {
        let variant = if env == "prod" { "on" } else { "off" };
        let base = app.revision(service).await;
        let reply = app
            .request(
                Method::PUT,
                &format!(
                    "/api/v1/services/{service}/flags/new-checkout-flow/environments/{env}/rollout"
                ),
                &[],
                Some(json!({
                    "base_revision": base,
                    "plan": {"variant": variant, "steps": [{"percent": 10, "hold": "1h"}]}
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
}

/// Change requests held by prod's and dev's policies: one for the other
/// service in prod, one for checkout in dev.
async fn held_requests(app: &TestApp) {
    let editor = format!(
        "Bearer {}",
        app.token("editor", Role::Editor, None, None).await
    );
    for env in ["prod", "dev"] {
        let reply = app
            .request(
                Method::PUT,
                &format!("/api/v1/environments/{env}/policy"),
                &[],
                Some(json!({"policy": {"approvals_required": 1}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    for (service, env) in [(OTHER_SERVICE, "prod"), ("checkout", "dev")] {
        let base = app.revision(service).await;
        let reply = app
            .request(
                Method::PATCH,
                &format!("/api/v1/services/{service}/values/{env}"),
                &[("authorization", &editor)],
                Some(json!({"set": {"throttle.rps": 77}, "base_revision": base})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    }
}

/// Every read a principal can make, with the bodies it got.
async fn read_everything(world: &World, bearer: &str) -> Vec<(String, String)> {
    let app = &world.app;
    let auth = [("authorization", bearer)];
    let mut uris: Vec<String> = [
        "/api/v1/me",
        "/api/v1/services",
        "/api/v1/services/checkout",
        "/api/v1/services/checkout/history",
        "/api/v1/flags",
        "/api/v1/changes",
        "/api/v1/changes?kind=token_created",
        "/api/v1/changes?kind=service_created",
        "/api/v1/environments",
        "/api/v1/alerts/unrouted",
        "/api/v1/export",
        "/api/v1/fleet",
        "/api/v1/change-requests",
        "/api/v1/change-requests?state=pending",
        "/api/v1/changes?kind=change_request_opened",
        "/api/v1/changes?kind=environment_policy_set",
        "/api/v1/rollouts",
        "/api/v1/changes?kind=rollout_transition",
    ]
    .map(str::to_owned)
    .to_vec();
    for env in ["dev", "staging", "prod"] {
        uris.push(format!("/api/v1/environments/{env}/snapshot"));
        uris.push(format!("/api/v1/environments/{env}/snapshot/checkout"));
        uris.push(format!("/api/v1/environments/{env}/breakers"));
    }
    for id in app.engine.world().change_requests.keys() {
        uris.push(format!("/api/v1/change-requests/{id}"));
    }
    let mut bodies = Vec::new();
    for uri in uris {
        let reply = app.request(Method::GET, &uri, &auth, None).await;
        assert!(
            matches!(
                reply.status,
                StatusCode::OK | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ),
            "{uri}: {} {}",
            reply.status,
            reply.text
        );
        bodies.push((uri, reply.text));
    }
    // OpenFeature evaluation: in the token's environment, over its services.
    for uri in [
        "/ofrep/v1/evaluate/flags",
        "/ofrep/v1/evaluate/flags/checkout:new-checkout-flow",
    ] {
        let context = json!({"context": {"targetingKey": "u", "country": "NL"}});
        let reply = app.request(Method::POST, uri, &auth, Some(context)).await;
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::FORBIDDEN),
            "{uri}: {} {}",
            reply.status,
            reply.text
        );
        bodies.push((uri.to_owned(), reply.text));
    }
    // A stale write's 409 carries the current state: cut to the scope too.
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/staging",
            &auth,
            Some(json!({"set": {"throttle.rps": 9}, "base_revision": 1})),
        )
        .await;
    bodies.push(("409 of a stale write".into(), reply.text));
    for stream in ["/api/v1/events", "/api/v1/environments/staging/events"] {
        bodies.push((
            format!("{stream} from Last-Event-ID 0"),
            replay(world, stream, bearer).await,
        ));
    }
    bodies
}

/// The events a stream replays from the start of the log, up to a marker
/// change every scope in these tests may see (checkout, staging).
async fn replay(world: &World, uri: &str, bearer: &str) -> String {
    let request = Request::get(uri)
        .header("authorization", bearer)
        .header("last-event-id", "0")
        .body(Body::empty())
        .expect("request");
    let response = world
        .app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("router");
    if response.status() != StatusCode::OK {
        return String::new();
    }
    let reply = world
        .app
        .set_values("checkout", "staging", json!({"throttle.rps": 11}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let last = format!("id: {}\n", reply.json["revision"]);
    let mut body = response.into_body();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !seen.contains(&last) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("{uri}: no event {last:?} in time; got {seen}"))
            .expect("the stream stays open")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }
    seen
}

fn assert_hidden(bodies: &[(String, String)], markers: &[&str], scope: &str) {
    for (what, body) in bodies {
        for marker in markers {
            assert!(
                !body.contains(marker),
                "{scope}: {what} shows {marker}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn an_unscoped_reader_meets_every_marker() {
    let world = world().await;
    let bearer = format!(
        "Bearer {}",
        world.app.token("auditor", Role::Viewer, None, None).await
    );
    let bodies = read_everything(&world, &bearer).await;
    let everything: String = bodies.iter().map(|(_, body)| body.as_str()).collect();
    for marker in MARKERS
        .service
        .iter()
        .chain(MARKERS.environment)
        .chain(MARKERS.global)
    {
        assert!(everything.contains(marker), "nothing shows {marker}");
    }
}

#[tokio::test]
async fn a_service_scope_hides_other_services_users_and_tokens() {
    let world = world().await;
    let bearer = format!(
        "Bearer {}",
        world
            .app
            .token("checkout-viewer", Role::Editor, Some(&["checkout"]), None)
            .await
    );
    let bodies = read_everything(&world, &bearer).await;
    assert_hidden(&bodies, MARKERS.service, "service scope");
    assert_hidden(&bodies, MARKERS.global, "service scope");
}

#[tokio::test]
async fn an_environment_scope_hides_other_environments_users_and_tokens() {
    let world = world().await;
    let bearer = format!(
        "Bearer {}",
        world
            .app
            .token("staging-editor", Role::Editor, None, Some("staging"))
            .await
    );
    let bodies = read_everything(&world, &bearer).await;
    assert_hidden(&bodies, MARKERS.environment, "environment scope");
    assert_hidden(&bodies, MARKERS.global, "environment scope");
}

#[tokio::test]
async fn both_scopes_hide_everything_outside_them() {
    let world = world().await;
    let bearer = format!(
        "Bearer {}",
        world
            .app
            .token(
                "checkout-staging",
                Role::Editor,
                Some(&["checkout"]),
                Some("staging"),
            )
            .await
    );
    let bodies = read_everything(&world, &bearer).await;
    assert_hidden(&bodies, MARKERS.service, "both");
    assert_hidden(&bodies, MARKERS.environment, "both");
    assert_hidden(&bodies, MARKERS.global, "both");
}

#[tokio::test]
async fn a_service_scoped_snapshot_is_sealed_over_its_services_alone() {
    let world = world().await;
    let bearer = format!(
        "Bearer {}",
        world
            .app
            .token("checkout-agent", Role::Viewer, Some(&["checkout"]), None)
            .await
    );
    let reply = world
        .app
        .request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("authorization", &bearer)],
            None,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let services: Vec<&String> = reply.json["services"]
        .as_object()
        .expect("services")
        .keys()
        .collect();
    assert_eq!(services, ["checkout"]);
    setpoint_core::snapshot::verify(reply.text.as_bytes()).expect("its own checksum holds");
    let etag = reply.headers["etag"].to_str().expect("etag").to_owned();
    let again = world
        .app
        .request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("authorization", &bearer), ("if-none-match", &etag)],
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn an_environment_scoped_flag_edit_keeps_the_targeting_it_cannot_see() {
    let world = world().await;
    let app = &world.app;
    let bearer = format!(
        "Bearer {}",
        app.token("staging-rollout", Role::Rollout, None, Some("staging"))
            .await
    );
    let auth = [("authorization", bearer.as_str())];
    let seen = app
        .request(Method::GET, "/api/v1/services/checkout", &auth, None)
        .await;
    let mut flag = seen.json["doc"]["flags"]["new-checkout-flow"].clone();
    assert_eq!(
        flag["environments"]
            .as_object()
            .expect("targeting")
            .keys()
            .collect::<Vec<_>>(),
        ["staging"],
        "only its own environment's targeting is shown"
    );
    flag["environments"]["staging"]["enabled"] = json!(false);
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/new-checkout-flow",
            &auth,
            Some(json!({"flag": flag, "base_revision": seen.json["revision"]})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let stored = app.get("/api/v1/services/checkout").await.json["doc"]["flags"]
        ["new-checkout-flow"]["environments"]
        .clone();
    assert_eq!(stored["staging"]["enabled"], json!(false));
    assert_eq!(
        stored["prod"]["enabled"],
        json!(true),
        "prod targeting kept"
    );
}
