//! Progressive rollouts through the API: a plan advances as each step
//! holds (clock injected), a guard — an alert from a real Alertmanager, or
//! a breaker opening — pulls the split back and the plan waits for a
//! person; people pause, resume, retry and abort; roles, scopes and
//! policies apply; the log replays.

mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::{Method, StatusCode};
use common::{
    Reply, TestApp,
    parts::{Alertmanager, eventually},
};
use serde_json::{Value, json};
use setpoint_server::{
    auth::Role,
    engine::{EngineConfig, ManualClock, now_millis},
    verify::verify,
};

const ROLLOUT: &str = "/api/v1/services/checkout/flags/new-checkout-flow/environments/prod/rollout";
const MINUTES_10: Duration = Duration::from_mins(10);

/// 5 %, 25 %, 100 %, ten minutes each, guarded by `CheckoutErrors` alerts
/// and the payments breaker.
fn plan() -> Value {
    json!({
        "variant": "on",
        "steps": [
            {"percent": 5, "hold": "10m"},
            {"percent": 25, "hold": "10m"},
            {"percent": 100, "hold": "10m"}
        ],
        "guards": [
            {"alert": ["alertname=CheckoutErrors", "service=checkout"]},
            {"breaker": "payments-provider"}
        ]
    })
}

struct Rollouts {
    app: TestApp,
    clock: Arc<ManualClock>,
    rollout: String,
    viewer: String,
}

impl Rollouts {
    async fn new() -> Self {
        let clock = Arc::new(ManualClock::new(now_millis()));
        let app = TestApp::seeded_with(EngineConfig {
            clock: clock.clone(),
            ..EngineConfig::default()
        })
        .await;
        let bearer = |token: String| format!("Bearer {token}");
        Self {
            rollout: bearer(app.token("pm", Role::Rollout, None, None).await),
            viewer: bearer(app.token("auditor", Role::Viewer, None, None).await),
            clock,
            app,
        }
    }

    async fn start(&self, who: &str, plan: Value) -> Reply {
        let base = self.app.revision("checkout").await;
        self.app
            .request(
                Method::PUT,
                ROLLOUT,
                &[("authorization", who)],
                Some(json!({"plan": plan, "base_revision": base, "reason": "roll out"})),
            )
            .await
    }

    async fn steer(&self, action: &str, body: Value) -> Reply {
        self.app
            .request(
                Method::POST,
                &format!("{ROLLOUT}/{action}"),
                &[("authorization", &self.rollout)],
                Some(body),
            )
            .await
    }

    /// Moves the clock and runs the server's timers.
    async fn pass(&self, by: Duration) {
        self.clock.advance(by);
        self.app.engine.run_timers().await;
    }

    /// The rollout as the service shows it.
    async fn rollout(&self) -> Value {
        let service = self.app.get("/api/v1/services/checkout").await;
        service.json["rollouts"]["prod"]["new-checkout-flow"].clone()
    }

    /// What prod's snapshot serves by default for the flag.
    async fn default(&self) -> Value {
        let service = self.app.get("/api/v1/services/checkout").await;
        service.json["doc"]["flags"]["new-checkout-flow"]["environments"]["prod"]["default"].clone()
    }

    async fn assert_verifies(&self) {
        let report = verify(self.app.store.as_ref()).await.expect("verify reads");
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }
}

fn split(percent: u32) -> Value {
    json!({"split": {"weights": [
        {"variant": "on", "weight": percent},
        {"variant": "off", "weight": 100 - percent}
    ]}})
}

#[tokio::test]
async fn a_plan_advances_as_each_step_holds_and_completes() {
    let r = Rollouts::new().await;
    let started = r.start(&r.rollout, plan()).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    assert_eq!(started.json["kind"], "rollout_transition");
    assert_eq!(started.json["item"], "new-checkout-flow");
    assert_eq!(started.json["environment"], "prod");
    assert_eq!(started.json["actor"], "token:pm");
    assert_eq!(r.default().await, split(5));
    let revision = r.app.revision("checkout").await;
    assert_eq!(
        revision,
        started.json["revision"].as_u64().expect("revision")
    );

    // Not yet held: nothing moves.
    r.pass(Duration::from_secs(599)).await;
    assert_eq!(r.rollout().await["percent"], 5);

    r.pass(Duration::from_secs(1)).await;
    assert_eq!(r.rollout().await["percent"], 25);
    assert_eq!(r.rollout().await["held"], 0);
    assert_eq!(r.default().await, split(25));
    assert!(
        r.app.revision("checkout").await > revision,
        "a step is an edit"
    );

    r.pass(MINUTES_10).await;
    assert_eq!(r.default().await, json!({"variant": "on"}));
    r.pass(MINUTES_10).await;
    let done = r.rollout().await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(r.default().await, json!({"variant": "on"}));

    let log = r
        .app
        .get("/api/v1/changes?kind=rollout_transition&limit=10")
        .await;
    let reasons: Vec<&str> = log.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    assert!(reasons.contains(&"step 2 (25 %) held 10m"), "{reasons:?}");
    assert!(
        log.json["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .all(|c| c["actor"] == "setpoint" || c["actor"] == "token:pm"),
        "{}",
        log.text
    );

    // Ended, a new plan may start.
    let again = r
        .start(
            &r.rollout,
            json!({"variant": "off", "steps": [{"percent": 50, "hold": "1h"}]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    r.assert_verifies().await;
}

#[tokio::test]
async fn a_real_alertmanager_alert_pulls_the_split_back_and_the_plan_waits_for_a_person() {
    let r = Rollouts::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let router = r.app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let hook = r
        .app
        .token("alertmanager", Role::AlertSource, None, None)
        .await;
    let alertmanager = Alertmanager::start(&url, &hook).await;

    assert_eq!(r.start(&r.rollout, plan()).await.status, StatusCode::OK);
    r.pass(MINUTES_10).await;
    assert_eq!(r.default().await, split(25));

    let alert = |ends_at: &str| {
        json!([{
            "labels": {"alertname": "CheckoutErrors", "service": "checkout",
                       "environment": "prod", "severity": "page"},
            "annotations": {"summary": "checkout 5xx above 2%"},
            "endsAt": ends_at
        }])
    };
    let fired = Instant::now();
    alertmanager.post(alert("2099-01-01T00:00:00Z")).await;
    eventually(
        Duration::from_secs(30),
        "the guard halts the plan",
        || async { r.rollout().await["state"] == "halted" },
    )
    .await;
    let latency = fired.elapsed();
    println!("guard alert posted to Alertmanager -> split pulled back: {latency:?}");
    let halted = r.rollout().await;
    assert_eq!(halted["percent"], 5, "back to the last step that held");
    assert_eq!(r.default().await, split(5));
    let note = halted["note"].as_str().expect("why it halted");
    assert!(
        note.contains("CheckoutErrors firing: checkout 5xx above 2%"),
        "{note}"
    );

    // Logged as the alert, with its labels' name and summary.
    let log = r
        .app
        .get("/api/v1/changes?kind=rollout_transition&limit=1")
        .await;
    let last = &log.json["changes"][0];
    assert!(
        last["actor"].as_str().expect("actor").starts_with("alert:"),
        "{last}"
    );

    // Time alone does not move it on.
    r.pass(MINUTES_10).await;
    assert_eq!(r.rollout().await["state"], "halted");

    // A person cannot resume while the guard fires, unless they force it.
    let early = r.steer("resume", json!({"reason": "looks fine"})).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(early.json["error"]["code"], "rollout_state");
    assert!(early.text.contains("CheckoutErrors"), "{}", early.text);

    // Resolved in Alertmanager, the plan still waits — for a person.
    alertmanager.post(alert("2000-01-01T00:00:00Z")).await;
    eventually(
        Duration::from_secs(30),
        "the guard's alert resolves",
        || async { r.rollout().await.get("firing").is_none() },
    )
    .await;
    assert_eq!(r.rollout().await["state"], "halted");

    let resumed = r.steer("resume", json!({"reason": "fixed by #4711"})).await;
    assert_eq!(resumed.status, StatusCode::OK, "{}", resumed.text);
    assert_eq!(
        r.rollout().await["percent"],
        25,
        "from the step after the last that held"
    );
    r.pass(MINUTES_10).await;
    r.pass(MINUTES_10).await;
    assert_eq!(r.rollout().await["state"], "completed");
    assert_eq!(r.default().await, json!({"variant": "on"}));
    r.assert_verifies().await;
}

#[tokio::test]
async fn a_breaker_opening_halts_the_plans_it_guards() {
    let r = Rollouts::new().await;
    assert_eq!(r.start(&r.rollout, plan()).await.status, StatusCode::OK);
    let operator = format!(
        "Bearer {}",
        r.app.token("oncall", Role::Operator, None, None).await
    );
    let trip = r
        .app
        .request(
            Method::POST,
            "/api/v1/services/checkout/breakers/payments-provider/environments/prod/trip",
            &[("authorization", &operator)],
            Some(json!({"reason": "provider down"})),
        )
        .await;
    assert_eq!(trip.status, StatusCode::OK, "{}", trip.text);
    assert_eq!(
        trip.json["kind"], "breaker_transition",
        "the trip's own change"
    );
    let halted = r.rollout().await;
    assert_eq!(halted["state"], "halted");
    assert_eq!(halted["percent"], 0, "no step held yet");
    assert_eq!(r.default().await, json!({"variant": "off"}));

    let refused = r
        .steer("retry", json!({"reason": "again", "step": 0}))
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains("breaker payments-provider is open"),
        "{}",
        refused.text
    );
    let forced = r
        .steer(
            "retry",
            json!({"reason": "provider is back", "step": 1, "force": true}),
        )
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    assert_eq!(r.default().await, split(25));
    r.assert_verifies().await;
}

#[tokio::test]
async fn people_pause_resume_and_abort_and_a_hand_edit_pauses_the_plan() {
    let r = Rollouts::new().await;
    assert_eq!(r.start(&r.rollout, plan()).await.status, StatusCode::OK);

    let paused = r
        .steer("pause", json!({"reason": "waiting for the dashboards"}))
        .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    r.pass(MINUTES_10).await;
    assert_eq!(
        r.rollout().await["percent"],
        5,
        "a paused plan does not advance"
    );
    let twice = r.steer("pause", json!({"reason": "again"})).await;
    assert_eq!(twice.status, StatusCode::CONFLICT);
    let unexplained = r.steer("resume", json!({"reason": " "})).await;
    assert_eq!(unexplained.status, StatusCode::BAD_REQUEST);
    assert_eq!(unexplained.json["error"]["code"], "reason_required");
    assert_eq!(
        r.steer("resume", json!({"reason": "dashboards fine"}))
            .await
            .status,
        StatusCode::OK
    );

    // Someone sets the default by hand: the plan pauses over their edit
    // rather than overwrite it.
    let base = r.app.revision("checkout").await;
    let mut flag =
        r.app.get("/api/v1/services/checkout").await.json["doc"]["flags"]["new-checkout-flow"]
            .clone();
    flag["environments"]["prod"]["default"] = split(10);
    let edited = r
        .app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/new-checkout-flow",
            &[],
            Some(json!({"flag": flag, "base_revision": base})),
        )
        .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text);
    r.pass(MINUTES_10).await;
    let rollout = r.rollout().await;
    assert_eq!(rollout["state"], "paused", "{rollout}");
    assert!(rollout["note"].as_str().expect("note").contains("by hand"));
    assert_eq!(r.default().await, split(10), "the hand edit stands");

    let aborted = r.steer("abort", json!({"reason": "not this week"})).await;
    assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.text);
    assert_eq!(r.rollout().await["state"], "aborted");
    assert_eq!(r.default().await, json!({"variant": "off"}));
    assert_eq!(
        r.steer("resume", json!({"reason": "x"})).await.status,
        StatusCode::CONFLICT,
        "an ended plan stays ended"
    );
    r.assert_verifies().await;
}

#[tokio::test]
async fn plans_are_checked_and_one_runs_at_a_time() {
    let r = Rollouts::new().await;
    let bad = r
        .start(
            &r.rollout,
            json!({
                "variant": "maybe",
                "steps": [{"percent": 50, "hold": "1h"}, {"percent": 20, "hold": "soon"}],
                "guards": [{"alert": []}, {"breaker": "nope"}]
            }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.text);
    let paths: Vec<&str> = bad.json["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|v| v["path"].as_str().expect("path"))
        .collect();
    for path in [
        "variant",
        "steps[1].percent",
        "steps[1].hold",
        "guards[0].alert",
        "guards[1].breaker",
    ] {
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
    assert_eq!(r.rollout().await, Value::Null, "nothing written");

    let unknown_field = r
        .start(
            &r.rollout,
            json!({"variant": "on", "steps": [], "speed": "fast"}),
        )
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown_field.text
    );

    assert_eq!(r.start(&r.rollout, plan()).await.status, StatusCode::OK);
    let second = r.start(&r.rollout, plan()).await;
    assert_eq!(second.status, StatusCode::CONFLICT, "{}", second.text);
    assert_eq!(second.json["error"]["code"], "rollout_state");
}

#[tokio::test]
async fn roles_scopes_and_policies_apply() {
    let r = Rollouts::new().await;
    let denied = r.start(&r.viewer, plan()).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let staging_only = format!(
        "Bearer {}",
        r.app
            .token("staging-pm", Role::Rollout, None, Some("staging"))
            .await
    );
    assert_eq!(
        r.start(&staging_only, plan()).await.status,
        StatusCode::FORBIDDEN
    );

    // Prod asks for an approval: starting a plan there becomes a request.
    let policy = r
        .app
        .request(
            Method::PUT,
            "/api/v1/environments/prod/policy",
            &[],
            Some(json!({"policy": {"approvals_required": 1}, "reason": "four eyes"})),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.text);
    let held = r.start(&r.rollout, plan()).await;
    assert_eq!(held.status, StatusCode::ACCEPTED, "{}", held.text);
    let id = held.json["change_request"]["id"].as_u64().expect("id");
    assert_eq!(r.rollout().await, Value::Null, "not started yet");
    let approved = r
        .app
        .request(
            Method::POST,
            &format!("/api/v1/change-requests/{id}/reviews"),
            &[],
            Some(json!({"verdict": "approve"})),
        )
        .await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    assert_eq!(r.rollout().await["state"], "running");

    // Listed for those who see prod, not for a token limited to staging.
    let listed = r.app.get("/api/v1/rollouts?state=active").await;
    assert_eq!(
        listed.json["rollouts"][0]["flag"], "new-checkout-flow",
        "{}",
        listed.text
    );
    let hidden = r
        .app
        .request(
            Method::GET,
            "/api/v1/rollouts",
            &[("authorization", &staging_only)],
            None,
        )
        .await;
    assert_eq!(hidden.json["rollouts"], json!([]), "{}", hidden.text);
    let bad_state = r.app.get("/api/v1/rollouts?state=sideways").await;
    assert_eq!(bad_state.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_plan_waits_on_its_step_through_a_freeze() {
    let r = Rollouts::new().await;
    assert_eq!(r.start(&r.rollout, plan()).await.status, StatusCode::OK);
    let now = r.app.engine.now();
    let at = setpoint_core::time::format_timestamp;
    let policy = r
        .app
        .request(
            Method::PUT,
            "/api/v1/environments/prod/policy",
            &[],
            Some(json!({
                "policy": {"frozen": [{"from": at(now), "until": at(now + 3_600_000), "reason": "release"}]},
                "reason": "release freeze"
            })),
        )
        .await;
    assert_eq!(policy.status, StatusCode::OK, "{}", policy.text);
    r.pass(MINUTES_10).await;
    assert_eq!(r.rollout().await["percent"], 5, "no step during the freeze");
    assert!(
        r.app
            .engine
            .world()
            .rollouts_due(r.app.engine.now())
            .is_empty()
    );
    r.pass(Duration::from_hours(1)).await;
    assert_eq!(r.rollout().await["percent"], 25, "the next step after it");
}
