//! Breakers through the API: the Alertmanager webhook, operators, the
//! board, the snapshot, the change log and `verify`.

mod common;

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use common::{Reply, TestApp};
use serde_json::{Value, json};
use setpoint_server::{
    auth::Role,
    engine::{EngineConfig, ManualClock, now_millis},
};

const BOARD: &str = "/api/v1/environments/prod/breakers";
const HOOK: &str = "/api/v1/hooks/alertmanager";
const BREAKER: &str = "/api/v1/services/checkout/breakers/payments-provider/environments/prod";

/// An Alertmanager webhook body (version 4) with the given alerts.
fn payload(status: &str, alerts: &[Value]) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"PaymentsErrorRate\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "setpoint",
        "groupLabels": {"alertname": "PaymentsErrorRate"},
        "commonLabels": {"alertname": "PaymentsErrorRate"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
        "someFieldFromTheFuture": true
    })
}

fn alert(fingerprint: &str, status: &str, env: &str) -> Value {
    json!({
        "status": status,
        "labels": {"alertname": "PaymentsErrorRate", "service": "checkout", "environment": env, "instance": fingerprint},
        "annotations": {"summary": "5xx above 5%", "runbook_url": "https://runbooks/payments"},
        "startsAt": "2026-11-22T08:00:00.000Z",
        "endsAt": if status == "resolved" { "2026-11-22T08:05:00Z" } else { "0001-01-01T00:00:00Z" },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
        "fingerprint": fingerprint
    })
}

struct Breakers {
    app: TestApp,
    hook: String,
    operator: String,
}

impl Breakers {
    async fn new() -> Self {
        Self::with_config(EngineConfig::default()).await
    }

    async fn with_config(config: EngineConfig) -> Self {
        let app = TestApp::seeded_with(config).await;
        let hook = format!(
            "Bearer {}",
            app.token("alertmanager", Role::AlertSource, None, None)
                .await
        );
        let operator = format!(
            "Bearer {}",
            app.token("oncall", Role::Operator, None, None).await
        );
        Self {
            app,
            hook,
            operator,
        }
    }

    async fn deliver(&self, body: Value) -> Reply {
        self.app
            .request(
                Method::POST,
                HOOK,
                &[("authorization", self.hook.as_str())],
                Some(body),
            )
            .await
    }

    async fn operate(&self, action: &str, body: Value) -> Reply {
        self.app
            .request(
                Method::POST,
                &format!("{BREAKER}/{action}"),
                &[("authorization", self.operator.as_str())],
                Some(body),
            )
            .await
    }

    async fn state(&self) -> Value {
        let board = self.app.get(BOARD).await;
        assert_eq!(board.status, StatusCode::OK, "{}", board.text);
        board.json[0]["state"].clone()
    }
}

#[tokio::test]
async fn an_alert_opens_its_breaker_and_a_person_closes_it() {
    let t = Breakers::new().await;
    assert_eq!(t.state().await, "closed");
    let revision = t.app.revision("checkout").await;

    let fired = t
        .deliver(payload("firing", &[alert("fp1", "firing", "prod")]))
        .await;
    assert_eq!(fired.status, StatusCode::OK, "{}", fired.text);
    assert_eq!(fired.json["transitions"].as_array().map(Vec::len), Some(1));
    assert_eq!(fired.json["transitions"][0]["actor"], "alert:fp1");
    assert_eq!(t.state().await, "open");
    let board = t.app.get(BOARD).await.json;
    assert_eq!(board[0]["cause"]["by"], "alert");
    assert_eq!(
        board[0]["cause"]["alert"]["annotations"]["summary"],
        "5xx above 5%"
    );
    assert_eq!(
        board[0]["cause"]["alert"]["generator_url"],
        "http://prometheus:9090/graph?g0.expr=rate"
    );
    let snapshot = t
        .app
        .get("/api/v1/environments/prod/snapshot/checkout")
        .await;
    assert_eq!(
        snapshot.json["services"]["checkout"]["breakers"]["payments-provider"]["open"], true,
        "services read it: {}",
        snapshot.text
    );
    let metrics = t
        .app
        .request(Method::GET, "/metrics", &[("cookie", "none=1")], None)
        .await
        .text;
    assert!(
        metrics.contains(r#"setpoint_breakers{environment="prod",state="open"} 1"#)
            && metrics.contains(r#"setpoint_breakers{environment="staging",state="closed"} 1"#),
        "{metrics}"
    );
    let staging = t.app.get("/api/v1/environments/staging/breakers").await;
    assert_eq!(staging.json[0]["state"], "closed", "the alert names prod");
    assert_eq!(
        t.app.revision("checkout").await,
        revision,
        "an alert does not make pending edits stale"
    );

    // Alertmanager repeats itself: nothing changes.
    let again = t
        .deliver(payload("firing", &[alert("fp1", "firing", "prod")]))
        .await;
    assert_eq!(again.json["transitions"], json!([]));

    let resolved = t
        .deliver(payload("resolved", &[alert("fp1", "resolved", "prod")]))
        .await;
    assert_eq!(
        resolved.json["transitions"][0]["after"]["state"],
        "awaiting_close"
    );
    assert_eq!(t.state().await, "awaiting_close");
    let snapshot = t
        .app
        .get("/api/v1/environments/prod/snapshot/checkout")
        .await;
    assert_eq!(
        snapshot.json["services"]["checkout"]["breakers"]["payments-provider"]["open"], true,
        "awaiting a person still reads as open"
    );

    // The firing notification, retried late, does not reopen it.
    let late = t
        .deliver(payload("firing", &[alert("fp1", "firing", "prod")]))
        .await;
    assert_eq!(late.json["transitions"], json!([]));
    assert_eq!(t.state().await, "awaiting_close");

    let no_reason = t.operate("close", json!({"reason": " "})).await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let confirmed = t
        .operate(
            "close",
            json!({"reason": "provider recovered, checked dashboards"}),
        )
        .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    assert_eq!(confirmed.json["actor"], "token:oncall");
    assert_eq!(t.state().await, "closed");

    let log = t
        .app
        .get("/api/v1/changes?service=checkout&item=payments-provider&kind=breaker_transition")
        .await;
    let states: Vec<&Value> = log.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| &c["after"]["state"])
        .collect();
    assert_eq!(states, ["closed", "awaiting_close", "open"], "newest first");

    let report = setpoint_server::verify::verify(&*t.app.store)
        .await
        .expect("verifies");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_second_firing_alert_keeps_it_open_and_force_is_needed_to_close() {
    let t = Breakers::new().await;
    t.deliver(payload("firing", &[alert("fp1", "firing", "prod")]))
        .await;
    t.deliver(payload("firing", &[alert("fp2", "firing", "prod")]))
        .await;
    let first_resolved = t
        .deliver(payload("firing", &[alert("fp1", "resolved", "prod")]))
        .await;
    assert_eq!(first_resolved.json["transitions"], json!([]));
    assert_eq!(t.state().await, "open");
    let board = t.app.get(BOARD).await.json;
    assert_eq!(board[0]["firing"].as_array().map(Vec::len), Some(1));

    let refused = t.operate("close", json!({"reason": "looks fine"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.json["error"]["code"], "breaker_state");
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PaymentsErrorRate")),
        "{}",
        refused.text
    );
    let forced = t
        .operate(
            "close",
            json!({"reason": "alert is wrong, silenced upstream", "force": true}),
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    assert_eq!(t.state().await, "closed");
}

#[tokio::test]
async fn operators_trip_by_hand_and_roles_are_enforced() {
    let t = Breakers::new().await;
    let editor = format!(
        "Bearer {}",
        t.app.token("dev", Role::Editor, None, None).await
    );
    let denied = t
        .app
        .request(
            Method::POST,
            &format!("{BREAKER}/trip"),
            &[("authorization", editor.as_str())],
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);

    let tripped = t
        .operate("trip", json!({"reason": "provider announced an outage"}))
        .await;
    assert_eq!(tripped.status, StatusCode::OK, "{}", tripped.text);
    assert_eq!(t.state().await, "open");
    let board = t.app.get(BOARD).await.json;
    assert_eq!(board[0]["cause"]["by"], "person");
    assert_eq!(board[0]["cause"]["actor"], "token:oncall");
    let twice = t.operate("trip", json!({"reason": "again"})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);

    // Only alert sources deliver alerts; they read nothing.
    for caller in [t.operator.as_str(), &format!("Bearer {}", t.app.admin)] {
        let reply = t
            .app
            .request(
                Method::POST,
                HOOK,
                &[("authorization", caller)],
                Some(payload("firing", &[])),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text);
    }
    let read = t
        .app
        .request(
            Method::GET,
            BOARD,
            &[("authorization", t.hook.as_str())],
            None,
        )
        .await;
    assert_eq!(read.status, StatusCode::FORBIDDEN);
    let missing = t
        .app
        .request(
            Method::POST,
            "/api/v1/services/checkout/breakers/nope/environments/prod/trip",
            &[("authorization", t.operator.as_str())],
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn malformed_deliveries_are_400_and_unmatched_alerts_are_kept() {
    let t = Breakers::new().await;
    let bad_bodies = [
        json!({"alerts": "none"}),
        json!({"version": "3", "alerts": []}),
        json!({"alerts": [{"status": "burning", "labels": {}, "startsAt": "2026-11-22T08:00:00Z"}]}),
        json!({"alerts": [{"status": "firing", "labels": {}, "startsAt": "yesterday"}]}),
        json!({"alerts": [{"status": "firing", "startsAt": "2026-11-22T08:00:00Z"}]}),
    ];
    for body in bad_bodies {
        let reply = t.deliver(body.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert!(
            reply.json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(t.state().await, "closed", "nothing changed");

    let mut disk = alert("fp9", "firing", "prod");
    disk["labels"] = json!({"alertname": "DiskFull", "instance": "db-1"});
    let reply = t.deliver(payload("firing", &[disk])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["unrouted"], 1);
    let unrouted = t.app.get("/api/v1/alerts/unrouted").await;
    assert_eq!(unrouted.json[0]["alert"]["labels"]["alertname"], "DiskFull");
    assert_eq!(unrouted.json[0]["receiver"], "setpoint");
}

#[tokio::test]
async fn auto_after_closes_by_itself_and_states_survive_a_restart() {
    let clock = Arc::new(ManualClock::new(now_millis()));
    let t = Breakers::with_config(EngineConfig {
        clock: clock.clone(),
        ..EngineConfig::default()
    })
    .await;
    let revision = t.app.revision("checkout").await;
    let defined = t
        .app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/breakers/payments-provider",
            &[("authorization", t.operator.as_str())],
            Some(json!({
                "breaker": {
                    "trips_on": [["alertname=PaymentsErrorRate"]],
                    "close": {"auto_after": "5m"}
                },
                "base_revision": revision
            })),
        )
        .await;
    assert_eq!(defined.status, StatusCode::OK, "{}", defined.text);
    t.deliver(payload("firing", &[alert("fp1", "firing", "prod")]))
        .await;
    let resolved = t
        .deliver(payload("resolved", &[alert("fp1", "resolved", "prod")]))
        .await;
    assert_eq!(
        resolved.json["transitions"][0]["after"]["state"],
        "awaiting_close"
    );
    clock.advance(Duration::from_secs(299));
    t.app.engine.run_timers().await;
    assert_eq!(t.state().await, "awaiting_close", "not before its delay");
    clock.advance(Duration::from_secs(1));
    t.app.engine.run_timers().await;
    assert_eq!(t.state().await, "closed", "closed by the clock");
    let last = t
        .app
        .get("/api/v1/changes?service=checkout&kind=breaker_transition&limit=1")
        .await;
    assert_eq!(last.json["changes"][0]["actor"], "setpoint");

    // A state written to the store comes back on load.
    t.deliver(payload(
        "firing",
        &[json!({"status": "firing", "labels": {"alertname": "PaymentsErrorRate"}, "startsAt": "2026-11-22T09:00:00Z"})],
    ))
    .await;
    let loaded = setpoint_server::store::Store::load(&*t.app.store)
        .await
        .expect("loads");
    assert_eq!(
        loaded.services["checkout"].states_in("prod")["payments-provider"],
        setpoint_core::BreakerState::Open
    );
    let report = setpoint_server::verify::verify(&*t.app.store)
        .await
        .expect("verifies");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_scoped_alert_source_moves_only_breakers_in_its_scope() {
    let t = Breakers::new().await;
    let staging_source = format!(
        "Bearer {}",
        t.app
            .token(
                "alertmanager-staging",
                Role::AlertSource,
                None,
                Some("staging")
            )
            .await
    );
    let mut unlabelled = alert("fp5", "firing", "prod");
    unlabelled["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("environment");
    let reply = t
        .app
        .request(
            Method::POST,
            HOOK,
            &[("authorization", staging_source.as_str())],
            Some(payload("firing", &[unlabelled])),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["unrouted"], 0);
    let staging = t.app.get("/api/v1/environments/staging/breakers").await;
    assert_eq!(staging.json[0]["state"], "open");
    assert_eq!(
        t.state().await,
        "closed",
        "prod is outside the token's scope"
    );

    // A repeat changes nothing and writes nothing.
    let revision =
        t.app.get("/api/v1/changes?limit=1").await.json["changes"][0]["revision"].clone();
    let mut again = alert("fp5", "firing", "prod");
    again["labels"]
        .as_object_mut()
        .expect("labels")
        .remove("environment");
    t.app
        .request(
            Method::POST,
            HOOK,
            &[("authorization", staging_source.as_str())],
            Some(payload("firing", &[again])),
        )
        .await;
    assert_eq!(
        t.app.get("/api/v1/changes?limit=1").await.json["changes"][0]["revision"],
        revision
    );
}
