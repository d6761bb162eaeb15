//! Change control through the API: environment policies (a reason, a
//! freeze, approvals), change requests reviewed by other people and
//! applied on the last approval at their base revision, and scheduled
//! changes applied once by the server's timer at their time.

mod common;

use std::{sync::Arc, time::Duration};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use setpoint_core::time::format_timestamp;
use setpoint_server::{
    auth::Role,
    engine::{EngineConfig, ManualClock, now_millis},
};

use common::{Reply, TestApp, parts::Postgres};

const VALUES: &str = "/api/v1/services/checkout/values";

/// The test app, with one bearer header per role (`token:<role>`).
struct Team {
    app: TestApp,
    rollout: String,
    editor: String,
    editor2: String,
    operator: String,
    viewer: String,
}

impl Team {
    async fn new(app: TestApp) -> Self {
        let bearer = |token: String| format!("Bearer {token}");
        Self {
            rollout: bearer(app.token("rollout", Role::Rollout, None, None).await),
            editor: bearer(app.token("editor", Role::Editor, None, None).await),
            editor2: bearer(app.token("editor2", Role::Editor, None, None).await),
            operator: bearer(app.token("operator", Role::Operator, None, None).await),
            viewer: bearer(app.token("viewer", Role::Viewer, None, None).await),
            app,
        }
    }

    async fn policy(&self, environment: &str, policy: Value) -> Reply {
        self.app
            .request(
                Method::PUT,
                &format!("/api/v1/environments/{environment}/policy"),
                &[],
                Some(json!({"policy": policy, "reason": "change control"})),
            )
            .await
    }

    /// Sets `throttle.rps` in `environment` as `who` (the admin for `None`).
    async fn set_rps(&self, who: Option<&str>, environment: &str, rps: u64, reason: &str) -> Reply {
        self.write(who, environment, json!({"throttle.rps": rps}), reason, &[])
            .await
    }

    async fn write(
        &self,
        who: Option<&str>,
        environment: &str,
        set: Value,
        reason: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let base = self.app.revision("checkout").await;
        let mut all = headers.to_vec();
        if let Some(who) = who {
            all.push(("authorization", who));
        }
        self.app
            .request(
                Method::PATCH,
                &format!("{VALUES}/{environment}"),
                &all,
                Some(json!({"set": set, "base_revision": base, "reason": reason})),
            )
            .await
    }

    async fn step(&self, who: &str, id: u64, step: &str, body: Option<Value>) -> Reply {
        self.app
            .request(
                Method::POST,
                &format!("/api/v1/change-requests/{id}/{step}"),
                &[("authorization", who)],
                body,
            )
            .await
    }

    async fn approve(&self, who: &str, id: u64) -> Reply {
        self.step(
            who,
            id,
            "reviews",
            Some(json!({"verdict": "approve", "text": "fine"})),
        )
        .await
    }

    async fn rps(&self, environment: &str) -> Value {
        let snapshot = self
            .app
            .get(&format!("/api/v1/environments/{environment}/snapshot"))
            .await;
        snapshot.json["services"]["checkout"]["config"]["throttle.rps"].clone()
    }
}

/// The request a `202` answer carries.
fn held(reply: &Reply) -> (u64, Value) {
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.text);
    let request = reply.json["change_request"].clone();
    let id = request["id"].as_u64().expect("an id");
    assert_eq!(
        reply.headers["location"],
        format!("/api/v1/change-requests/{id}").as_str()
    );
    (id, request)
}

async fn verified(app: &TestApp) {
    let report = setpoint_server::verify::verify(app.store.as_ref())
        .await
        .expect("the log reads");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn admins_set_policies_which_are_checked_shown_and_logged() {
    let team = Team::new(TestApp::seeded().await).await;
    let scoped = format!(
        "Bearer {}",
        team.app
            .token("scoped-admin", Role::Admin, Some(&["checkout"]), None)
            .await
    );
    let body = json!({"policy": {"reason_required": true}});
    for who in [&team.editor, &scoped] {
        let refused = team
            .app
            .request(
                Method::PUT,
                "/api/v1/environments/prod/policy",
                &[("authorization", who)],
                Some(body.clone()),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    }

    let invalid = team
        .policy(
            "prod",
            json!({"approvals_required": 9, "frozen": [{"from": "soon", "until": "2030-01-01T00:00:00Z"}]}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> = invalid.json["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["path"].as_str())
        .collect();
    assert_eq!(paths, ["approvals_required", "frozen[0].from"]);
    let unknown = team.policy("prod", json!({"aprovals_required": 1})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.text);
    assert_eq!(
        team.policy("nowhere", json!({})).await.status,
        StatusCode::NOT_FOUND
    );

    let set = team
        .policy(
            "prod",
            json!({"reason_required": true, "approvals_required": 1}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    assert_eq!(set.json["kind"], "environment_policy_set");
    assert_eq!(
        set.json["after"],
        json!({"reason_required": true, "approvals_required": 1})
    );
    let environments = team.app.get("/api/v1/environments").await.json;
    let prod = environments
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["name"] == "prod")
        .expect("prod")
        .clone();
    assert_eq!(prod["policy"]["approvals_required"], 1);
    verified(&team.app).await;
}

#[tokio::test]
async fn a_reason_is_required_where_the_policy_says_so_admins_included() {
    let team = Team::new(TestApp::seeded().await).await;
    team.policy("prod", json!({"reason_required": true})).await;

    for who in [Some(team.editor.as_str()), None] {
        let refused = team.set_rps(who, "prod", 1234, "  ").await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.text
        );
        assert_eq!(refused.json["error"]["code"], "reason_required");
    }
    assert_eq!(
        team.rps("prod").await,
        2000,
        "a refused write changes nothing"
    );

    let given = team
        .set_rps(Some(&team.editor), "prod", 1234, "load test")
        .await;
    assert_eq!(given.status, StatusCode::OK, "{}", given.text);
    let elsewhere = team.set_rps(Some(&team.editor), "staging", 99, "").await;
    assert_eq!(
        elsewhere.status,
        StatusCode::OK,
        "staging has no policy: {}",
        elsewhere.text
    );

    // Only what an environment serves is guarded: the description is not.
    let base = team.app.revision("checkout").await;
    let mut doc = team.app.get("/api/v1/services/checkout").await.json["doc"].clone();
    doc["description"] = json!("reworded");
    let reworded = team
        .app
        .request(
            Method::PUT,
            "/api/v1/services/checkout",
            &[("if-match", &format!("\"{base}\""))],
            Some(json!({"document": doc})),
        )
        .await;
    assert_eq!(reworded.status, StatusCode::OK, "{}", reworded.text);
}

#[tokio::test]
async fn a_freeze_admits_only_admins_giving_a_reason_and_never_holds_breakers() {
    let team = Team::new(TestApp::seeded().await).await;
    let now = now_millis();
    let set = team
        .policy(
            "prod",
            json!({"frozen": [{
                "from": format_timestamp(now - 3_600_000),
                "until": format_timestamp(now + 3_600_000),
                "reason": "release 4.2",
            }]}),
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);

    let editor = team.set_rps(Some(&team.editor), "prod", 1, "urgent").await;
    assert_eq!(editor.status, StatusCode::LOCKED, "{}", editor.text);
    assert_eq!(editor.json["error"]["code"], "environment_frozen");
    assert!(editor.text.contains("release 4.2"), "{}", editor.text);
    let silent_admin = team.set_rps(None, "prod", 1, "").await;
    assert_eq!(silent_admin.status, StatusCode::LOCKED);
    assert_eq!(team.rps("prod").await, 2000);

    let admin = team
        .set_rps(None, "prod", 1500, "hotfix approved by the release manager")
        .await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);
    assert_eq!(
        team.set_rps(Some(&team.editor), "staging", 5, "")
            .await
            .status,
        StatusCode::OK
    );

    // An incident cannot wait for the release.
    let trip = team
        .app
        .request(
            Method::POST,
            "/api/v1/services/checkout/breakers/payments-provider/environments/prod/trip",
            &[("authorization", &team.operator)],
            Some(json!({"reason": "provider down"})),
        )
        .await;
    assert_eq!(trip.status, StatusCode::OK, "{}", trip.text);
}

#[tokio::test]
async fn who_writes_who_must_request_and_who_may_approve() {
    let team = Team::new(TestApp::seeded().await).await;
    team.policy("prod", json!({"approvals_required": 1})).await;
    let staging_editor = format!(
        "Bearer {}",
        team.app
            .token("staging-editor", Role::Editor, None, Some("staging"))
            .await
    );

    // Below admin, a write to prod becomes a request; staging is direct.
    // (Requests are based on the service's revision: any later edit of the
    // service makes them stale, as the next test shows.)
    assert_eq!(
        team.set_rps(Some(&team.editor), "staging", 7, "")
            .await
            .status,
        StatusCode::OK
    );
    let mut ids = Vec::new();
    for who in [&team.editor, &team.operator] {
        let (id, request) = held(&team.set_rps(Some(who), "prod", 1111, "more headroom").await);
        assert_eq!(request["state"], "open");
        assert_eq!(request["environments"], json!(["prod"]));
        assert_eq!(request["approvals_required"], 1);
        assert_eq!(
            request["diff"][0]["path"], "values.prod[\"throttle.rps\"]",
            "{request}"
        );
        ids.push(id);
    }
    let flag_path = "/api/v1/services/checkout/flags/new-checkout-flow";
    let mut flag =
        team.app.get("/api/v1/services/checkout").await.json["doc"]["flags"]["new-checkout-flow"]
            .clone();
    flag["environments"]["prod"]["enabled"] = json!(false);
    let base = team.app.revision("checkout").await;
    let rollout = team
        .app
        .request(
            Method::PUT,
            flag_path,
            &[
                ("authorization", &team.rollout),
                ("if-match", &format!("\"{base}\"")),
            ],
            Some(json!({"flag": flag, "reason": "pause the rollout"})),
        )
        .await;
    let (flag_request, _) = held(&rollout);
    assert_eq!(team.rps("prod").await, 2000, "nothing applied yet");

    // Who may not approve: the author, a viewer, a role below the
    // approvers', a scope that does not reach prod.
    let editor_request = ids[0];
    let own = team.approve(&team.editor, editor_request).await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.text);
    assert!(
        own.text.contains("its author may not review it"),
        "{}",
        own.text
    );
    for who in [&team.viewer, &team.rollout] {
        let refused = team.approve(who, editor_request).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    }
    let out_of_scope = team.approve(&staging_editor, editor_request).await;
    assert_eq!(
        out_of_scope.status,
        StatusCode::NOT_FOUND,
        "{}",
        out_of_scope.text
    );

    // The queue of what the second editor may approve.
    let mine = team
        .app
        .request(
            Method::GET,
            "/api/v1/change-requests?awaiting_me=true",
            &[("authorization", &team.editor2)],
            None,
        )
        .await;
    let awaiting: Vec<u64> = mine.json["change_requests"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["id"].as_u64())
        .collect();
    assert_eq!(awaiting, [flag_request, ids[1], ids[0]]);

    // Another editor approves: it applies, in the author's name.
    let approved = team.approve(&team.editor2, editor_request).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    let request = &approved.json["change_request"];
    assert_eq!(request["state"], "applied");
    assert_eq!(team.rps("prod").await, 1111);
    let logged = team
        .app
        .get("/api/v1/changes?service=checkout&environment=prod&kind=values_changed&limit=1")
        .await;
    let change = &logged.json["changes"][0];
    assert_eq!(change["actor"], "token:editor");
    assert_eq!(
        change["reason"],
        format!("more headroom (change request #{editor_request}, approved by token:editor2)")
    );
    assert_eq!(change["revision"], request["applied_revision"]);

    // An admin writes directly, and may approve others'.
    let admin = team.set_rps(None, "prod", 3000, "").await;
    assert_eq!(admin.status, StatusCode::OK, "{}", admin.text);
    verified(&team.app).await;
}

#[tokio::test]
async fn a_stale_request_is_refused_then_rebased_and_applied_and_can_be_withdrawn() {
    let team = Team::new(TestApp::seeded().await).await;
    team.policy("prod", json!({"approvals_required": 1})).await;
    let (id, _) = held(
        &team
            .set_rps(Some(&team.editor), "prod", 1111, "headroom")
            .await,
    );

    // The service moves under the request.
    let moved = team
        .write(None, "prod", json!({"timeout": "9s"}), "", &[])
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.text);

    let stale = team.approve(&team.editor2, id).await;
    assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.text);
    assert_eq!(stale.json["error"]["code"], "stale_revision");
    let request = &stale.json["error"]["current"];
    assert_eq!(request["state"], "approved", "the approval stands");
    assert!(
        request["outcome"]
            .as_str()
            .unwrap_or_default()
            .starts_with("stale")
    );
    assert_eq!(team.rps("prod").await, 2000);

    // Only the author rebases; the approvals start over.
    let not_theirs = team.step(&team.editor2, id, "rebase", None).await;
    assert_eq!(not_theirs.status, StatusCode::FORBIDDEN);
    let rebased = team.step(&team.editor, id, "rebase", None).await;
    assert_eq!(rebased.status, StatusCode::OK, "{}", rebased.text);
    let request = &rebased.json["change_request"];
    assert_eq!(request["state"], "open");
    assert_eq!(request["round"], 1);
    assert_eq!(request["base"], team.app.revision("checkout").await);

    let applied = team.approve(&team.editor2, id).await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(applied.json["change_request"]["state"], "applied");
    assert_eq!(team.rps("prod").await, 1111);
    let snapshot = team
        .app
        .get("/api/v1/environments/prod/snapshot")
        .await
        .json;
    assert_eq!(
        snapshot["services"]["checkout"]["config"]["timeout"], "9s",
        "the rebased edit keeps what moved the service"
    );

    // Withdrawing: the author's (or an admin's) alone, and final.
    let (second, _) = held(&team.set_rps(Some(&team.editor), "prod", 1, "oops").await);
    let not_theirs = team.step(&team.editor2, second, "withdraw", None).await;
    assert_eq!(not_theirs.status, StatusCode::FORBIDDEN);
    let withdrawn = team.step(&team.editor, second, "withdraw", None).await;
    assert_eq!(withdrawn.json["change_request"]["state"], "withdrawn");
    let late = team.approve(&team.editor2, second).await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.json["error"]["code"], "request_closed");
    let comment = team
        .step(
            &team.viewer,
            second,
            "reviews",
            Some(json!({"verdict": "comment", "text": "why?"})),
        )
        .await;
    assert_eq!(
        comment.status,
        StatusCode::OK,
        "anyone who sees it may comment: {}",
        comment.text
    );

    let kinds: Vec<String> = team
        .app
        .get(&format!("/api/v1/changes?service=checkout&item=%23{id}"))
        .await
        .json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .rev()
        .map(|c| c["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "change_request_opened",
            "change_request_approved",
            "change_request_rebased",
            "change_request_approved",
            "change_request_applied"
        ]
    );
    verified(&team.app).await;
}

#[tokio::test]
async fn a_scheduled_change_applies_once_at_its_time_unless_cancelled_or_stale() {
    let clock = Arc::new(ManualClock::new(now_millis()));
    let app = TestApp::seeded_with(EngineConfig {
        clock: clock.clone(),
        ..EngineConfig::default()
    })
    .await;
    let team = Team::new(app).await;
    let default_rps = team.rps("dev").await;
    let in_an_hour = format_timestamp(clock_now(&team) + 3_600_000);
    let schedule = [("setpoint-apply-at", in_an_hour.as_str())];

    let (applies, request) = held(
        &team
            .write(
                None,
                "prod",
                json!({"throttle.rps": 4000}),
                "peak",
                &schedule,
            )
            .await,
    );
    assert_eq!(request["state"], "approved", "an admin needs no approval");
    assert_eq!(request["apply_at"], in_an_hour.as_str());
    let (cancelled, _) = held(
        &team
            .write(None, "staging", json!({"throttle.rps": 5}), "", &schedule)
            .await,
    );
    // Based on the same revision, due later: by then the first one has
    // moved the service.
    let in_three_hours = format_timestamp(clock_now(&team) + 3 * 3_600_000);
    let (goes_stale, _) = held(
        &team
            .write(
                Some(&team.editor),
                "dev",
                json!({"throttle.rps": 6}),
                "",
                &[("setpoint-apply-at", &in_three_hours)],
            )
            .await,
    );
    assert_eq!(
        team.step(&team.editor, cancelled, "withdraw", None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let cancel = team
        .step(&team.app_admin(), cancelled, "withdraw", None)
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.text);

    team.app.engine.run_timers().await;
    assert_eq!(team.rps("prod").await, 2000, "not before its time");

    clock.advance(Duration::from_hours(2));
    team.app.engine.run_timers().await;
    assert_eq!(team.rps("prod").await, 4000);
    assert_eq!(
        team.rps("staging").await,
        default_rps,
        "cancelled: never applied"
    );
    let revision = team.app.engine.world().revision;
    team.app.engine.run_timers().await;
    assert_eq!(team.app.engine.world().revision, revision, "applied once");

    clock.advance(Duration::from_hours(2));
    team.app.engine.run_timers().await;
    assert_eq!(team.rps("dev").await, default_rps, "stale: not applied");

    let show = async |id: u64| {
        let uri = format!("/api/v1/change-requests/{id}");
        team.app.get(&uri).await.json["change_request"].clone()
    };
    assert_eq!(show(applies).await["state"], "applied");
    let failed = show(goes_stale).await;
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["outcome"]
            .as_str()
            .unwrap_or_default()
            .starts_with("stale"),
        "{failed}"
    );

    let logged = team
        .app
        .get("/api/v1/changes?service=checkout&environment=prod&kind=values_changed&limit=1")
        .await;
    let change = &logged.json["changes"][0];
    assert_eq!(change["actor"], "scheduler");
    assert_eq!(
        change["reason"],
        format!("peak (scheduled by token:test-admin, change request #{applies})")
    );
    let pending = team.app.get("/api/v1/change-requests?state=pending").await;
    assert_eq!(pending.json["change_requests"], json!([]));
    verified(&team.app).await;
}

/// Two replicas sharing a PostgreSQL database, taking requests in turn:
/// a request opened on one is approved on the other, and both serve it.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_moves_across_replicas_on_postgresql() {
    let postgres = Postgres::start();
    let team = Team::new(TestApp::seeded_replicas(&postgres).await).await;
    let set = team.policy("prod", json!({"approvals_required": 1})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text);
    team.app.settle().await;
    let (id, _) = held(
        &team
            .set_rps(Some(&team.editor), "prod", 1212, "replicated")
            .await,
    );
    team.app.settle().await;
    let approved = team.approve(&team.editor2, id).await;
    assert_eq!(approved.status, StatusCode::OK, "{}", approved.text);
    assert_eq!(approved.json["change_request"]["state"], "applied");
    team.app.settle().await;
    for _ in 0..2 {
        let shown = team.app.get(&format!("/api/v1/change-requests/{id}")).await;
        assert_eq!(shown.json["change_request"]["state"], "applied");
        assert_eq!(team.rps("prod").await, 1212);
        let environments = team.app.get("/api/v1/environments").await.json;
        assert!(
            environments
                .to_string()
                .contains("\"approvals_required\":1"),
            "{environments}"
        );
    }
    verified(&team.app).await;
}

fn clock_now(team: &Team) -> i64 {
    team.app.engine.now()
}

impl Team {
    fn app_admin(&self) -> String {
        format!("Bearer {}", self.app.admin)
    }
}
