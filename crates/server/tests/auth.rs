//! People and roles: every role against every write, sessions, CSRF,
//! throttling, scopes.

mod common;

use axum::http::{Method, StatusCode};
use common::{EXAMPLE, TestApp};
use serde_json::{Value, json};
use setpoint_server::{auth::Role, store::AccountWrite};

const ROLES: [Role; 7] = Role::ALL;

/// One write endpoint: the least role allowed, and how to call it on a
/// seeded app at its current revision.
struct Write {
    name: &'static str,
    least: Role,
    method: Method,
    uri: &'static str,
    body: fn(revision: u64) -> Option<Value>,
    if_match: bool,
}

fn flag_with_prod_split(on: u32) -> Value {
    json!({"description": "The single-page checkout", "variants": {"on": true, "off": false}, "off": "off",
           "environments": {
               "prod": {"enabled": true, "default": {"split": {"weights": [{"variant": "on", "weight": on}, {"variant": "off", "weight": 100 - on}]}}},
               "staging": {"enabled": true, "default": {"variant": "on"}}}})
}

#[expect(clippy::too_many_lines, reason = "one table row per write endpoint")]
fn writes() -> Vec<Write> {
    vec![
        Write {
            name: "create environment",
            least: Role::Admin,
            method: Method::POST,
            uri: "/api/v1/environments",
            body: |_| Some(json!({"name": "qa"})),
            if_match: false,
        },
        Write {
            name: "create service",
            least: Role::Admin,
            method: Method::POST,
            uri: "/api/v1/services",
            body: |_| Some(json!({"document": {"service": "fresh"}})),
            if_match: false,
        },
        Write {
            name: "replace service",
            least: Role::Admin,
            method: Method::PUT,
            uri: "/api/v1/services/checkout",
            body: |r| {
                let mut doc: Value = serde_json::from_str(EXAMPLE).expect("example");
                doc["owners"] = json!(["x"]);
                Some(json!({"document": doc, "base_revision": r}))
            },
            if_match: false,
        },
        Write {
            name: "patch values",
            least: Role::Editor,
            method: Method::PATCH,
            uri: "/api/v1/services/checkout/values/prod",
            body: |r| Some(json!({"set": {"throttle.rps": 901}, "base_revision": r})),
            if_match: false,
        },
        Write {
            name: "put schema",
            least: Role::Admin,
            method: Method::PUT,
            uri: "/api/v1/services/checkout/schema",
            body: |r| {
                let doc: Value = serde_json::from_str(EXAMPLE).expect("example");
                Some(json!({"schema": doc["schema"], "base_revision": r}))
            },
            if_match: false,
        },
        Write {
            name: "change a rollout",
            least: Role::Rollout,
            method: Method::PUT,
            uri: "/api/v1/services/checkout/flags/new-checkout-flow",
            body: |r| Some(json!({"flag": flag_with_prod_split(50), "base_revision": r})),
            if_match: false,
        },
        Write {
            name: "create a flag",
            least: Role::Editor,
            method: Method::PUT,
            uri: "/api/v1/services/checkout/flags/brand-new",
            body: |r| Some(json!({"flag": flag_with_prod_split(10), "base_revision": r})),
            if_match: false,
        },
        Write {
            name: "delete a flag",
            least: Role::Editor,
            method: Method::DELETE,
            uri: "/api/v1/services/checkout/flags/new-checkout-flow",
            body: |_| None,
            if_match: true,
        },
        Write {
            name: "define a breaker",
            least: Role::Operator,
            method: Method::PUT,
            uri: "/api/v1/services/checkout/breakers/payments-provider",
            body: |r| {
                Some(
                    json!({"breaker": {"trips_on": [["alertname=PaymentsErrorRate"]]}, "base_revision": r}),
                )
            },
            if_match: false,
        },
        Write {
            name: "trip a breaker",
            least: Role::Operator,
            method: Method::POST,
            uri: "/api/v1/services/checkout/breakers/payments-provider/environments/prod/trip",
            body: |_| Some(json!({"reason": "provider outage"})),
            if_match: false,
        },
        Write {
            name: "delete service",
            least: Role::Admin,
            method: Method::DELETE,
            uri: "/api/v1/services/checkout",
            body: |_| None,
            if_match: true,
        },
        Write {
            name: "set a policy",
            least: Role::Admin,
            method: Method::PUT,
            uri: "/api/v1/environments/prod/policy",
            body: |_| Some(json!({"policy": {"reason_required": true}})),
            if_match: false,
        },
        Write {
            name: "create token",
            least: Role::Admin,
            method: Method::POST,
            uri: "/api/v1/tokens",
            body: |_| Some(json!({"name": "agent", "role": "viewer"})),
            if_match: false,
        },
        Write {
            name: "create user",
            least: Role::Admin,
            method: Method::POST,
            uri: "/api/v1/users",
            body: |_| {
                Some(
                    json!({"username": "carol", "password": "a long enough password", "role": "viewer"}),
                )
            },
            if_match: false,
        },
    ]
}

#[tokio::test]
async fn every_role_against_every_write_is_allowed_or_403_and_nothing_else() {
    every_role_against_every_write(TestApp::seeded).await;
}

/// The same on two replicas sharing a PostgreSQL database, each request
/// answered by the next replica (the token is made on one, the write taken
/// by the other).
#[tokio::test(flavor = "multi_thread")]
async fn every_role_against_every_write_on_two_replicas_of_postgresql() {
    let postgres = common::parts::Postgres::start();
    every_role_against_every_write(|| TestApp::seeded_replicas(&postgres)).await;
}

/// Each write by each role on a freshly seeded app from `seeded`: allowed
/// (any success) or `403 forbidden`, nothing else. The roles of one write
/// run at once, each on its own app.
async fn every_role_against_every_write<F: Future<Output = TestApp>>(seeded: impl Fn() -> F) {
    let mut failures = Vec::new();
    for write in writes() {
        let cases = ROLES.map(|role| {
            let (write, app) = (&write, seeded());
            async move { one_role_against_one_write(&app.await, role, write).await }
        });
        failures.extend(
            futures_util::future::join_all(cases)
                .await
                .into_iter()
                .flatten(),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What went wrong when `role` made `write`, if anything.
async fn one_role_against_one_write(app: &TestApp, role: Role, write: &Write) -> Option<String> {
    // Agent tokens always follow one environment.
    let environment = (role == Role::Agent).then_some("prod");
    let token = format!(
        "Bearer {}",
        app.token("caller", role, None, environment).await
    );
    let revision = app.revision("checkout").await.to_string();
    let mut headers = vec![("authorization", token.as_str())];
    if write.if_match {
        headers.push(("if-match", revision.as_str()));
    }
    let body = (write.body)(revision.parse().expect("number"));
    let reply = app
        .request(write.method.clone(), write.uri, &headers, body)
        .await;
    let allowed = role >= write.least;
    let ok = if allowed {
        reply.status.is_success()
    } else {
        reply.status == StatusCode::FORBIDDEN && reply.json["error"]["code"] == "forbidden"
    };
    (!ok).then(|| {
        format!(
            "{} as {}: {} {}",
            write.name,
            role.as_str(),
            reply.status,
            reply.text
        )
    })
}

#[tokio::test]
async fn reads_need_credentials() {
    let app = TestApp::seeded().await;
    for uri in [
        "/api/v1/services",
        "/api/v1/environments/prod/snapshot",
        "/api/v1/changes",
        "/api/v1/me",
    ] {
        let anonymous = app
            .request(Method::GET, uri, &[("cookie", "other=1")], None)
            .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(anonymous.json["error"]["code"], "unauthenticated");
        let forged = app
            .request(
                Method::GET,
                uri,
                &[("authorization", "Bearer sp_0000_1111")],
                None,
            )
            .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let viewer = format!(
        "Bearer {}",
        app.token("auditor", Role::Viewer, None, None).await
    );
    let me = app
        .request(
            Method::GET,
            "/api/v1/me",
            &[("authorization", &viewer)],
            None,
        )
        .await;
    assert_eq!(me.json["actor"], "token:auditor");
    assert_eq!(me.json["role"], "viewer");
}

#[tokio::test]
async fn scoped_tokens_stay_in_their_services_and_environment() {
    let app = TestApp::seeded().await;
    let base = app.revision("checkout").await;
    let patch = json!({"set": {"throttle.rps": 777}, "base_revision": base});
    let other_service = format!(
        "Bearer {}",
        app.token("search-editor", Role::Editor, Some(&["search"]), None)
            .await
    );
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("authorization", &other_service)],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let staging_only = format!(
        "Bearer {}",
        app.token("staging-agent", Role::Editor, None, Some("staging"))
            .await
    );
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("authorization", &staging_only)],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = app
        .request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("authorization", &staging_only)],
            None,
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "it cannot read prod either"
    );
    let reply = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/staging",
            &[("authorization", &staging_only)],
            Some(patch),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn a_rollout_user_changes_one_environment_not_the_flag_itself() {
    let app = TestApp::seeded().await;
    let rollout = format!(
        "Bearer {}",
        app.token("pm", Role::Rollout, None, None).await
    );
    let base = app.revision("checkout").await;
    let mut reshaped = flag_with_prod_split(50);
    reshaped["variants"]["maybe"] = json!(true);
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/new-checkout-flow",
            &[("authorization", &rollout)],
            Some(json!({"flag": reshaped, "base_revision": base})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "adding a variant is an edit"
    );
    let mut two_envs = flag_with_prod_split(50);
    two_envs["environments"]["staging"]["enabled"] = json!(false);
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/services/checkout/flags/new-checkout-flow",
            &[("authorization", &rollout)],
            Some(json!({"flag": two_envs, "base_revision": base})),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "rollouts in several environments are still rollouts: {}",
        reply.text
    );
}

fn cookie_of(reply: &common::Reply) -> String {
    let set_cookie = reply.headers["set-cookie"].to_str().expect("ascii");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    set_cookie.split(';').next().expect("pair").to_string()
}

#[tokio::test]
async fn sessions_log_in_need_csrf_for_writes_and_log_out() {
    let app = TestApp::seeded().await;
    let created = app
        .post(
            "/api/v1/users",
            json!({"username": "erin", "password": "correct horse battery", "role": "editor"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);

    let wrong = app
        .request(
            Method::POST,
            "/api/v1/session",
            &[("cookie", "x=1")],
            Some(json!({"username": "erin", "password": "nope"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let login = app
        .request(
            Method::POST,
            "/api/v1/session",
            &[("cookie", "x=1")],
            Some(json!({"username": "erin", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let cookie = cookie_of(&login);
    let csrf = login.json["csrf_token"].as_str().expect("csrf").to_string();

    let me = app
        .request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(me.json["actor"], "user:erin");
    assert_eq!(me.json["csrf_token"], csrf.as_str());

    let base = app.revision("checkout").await;
    let patch =
        json!({"set": {"throttle.rps": 1234}, "base_revision": base, "reason": "from the console"});
    let no_csrf = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("cookie", &cookie)],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let bad_csrf = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("cookie", &cookie), ("x-csrf-token", "guess")],
            Some(patch.clone()),
        )
        .await;
    assert_eq!(bad_csrf.status, StatusCode::FORBIDDEN);
    let ok = app
        .request(
            Method::PATCH,
            "/api/v1/services/checkout/values/prod",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            Some(patch),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["actor"], "user:erin");

    let logout = app
        .request(
            Method::DELETE,
            "/api/v1/session",
            &[("cookie", &cookie)],
            None,
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let after = app
        .request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_logins_are_throttled() {
    let app = TestApp::seeded().await;
    app.post(
        "/api/v1/users",
        json!({"username": "frank", "password": "correct horse battery", "role": "viewer"}),
    )
    .await;
    for _ in 0..5 {
        let reply = app
            .request(
                Method::POST,
                "/api/v1/session",
                &[("cookie", "x=1")],
                Some(json!({"username": "frank", "password": "guess"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let locked = app
        .request(
            Method::POST,
            "/api/v1/session",
            &[("cookie", "x=1")],
            Some(json!({"username": "frank", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(locked.json["error"]["code"], "too_many_attempts");
}

#[tokio::test]
async fn tokens_are_shown_once_and_stored_hashed() {
    let app = TestApp::seeded().await;
    let created = app
        .post(
            "/api/v1/tokens",
            json!({"name": "agent-eu", "role": "viewer", "environment": "prod"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let bearer = created.json["token"]
        .as_str()
        .expect("shown once")
        .to_string();
    let listed = app.get("/api/v1/tokens").await;
    assert!(
        !listed.text.contains(&bearer[20..]),
        "the secret is never listed"
    );
    let secret = bearer.rsplit('_').next().expect("secret");
    let raw = std::fs::read(app.dir.path().join("setpoint.db")).expect("db file");
    assert!(
        !String::from_utf8_lossy(&raw).contains(secret),
        "the secret is not in the database"
    );

    let id = created.json["id"].as_str().expect("id");
    let auth = format!("Bearer {bearer}");
    assert_eq!(
        app.request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("authorization", &auth)],
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        app.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.request(
            Method::GET,
            "/api/v1/environments/prod/snapshot",
            &[("authorization", &auth)],
            None
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED,
        "revoked"
    );
}

#[tokio::test]
async fn user_and_token_changes_are_in_the_change_log_without_secrets() {
    let app = TestApp::seeded().await;
    let user = app
        .post(
            "/api/v1/users",
            json!({"username": "carol", "password": "a long enough password", "role": "editor", "services": ["checkout"]}),
        )
        .await;
    assert_eq!(user.status, StatusCode::CREATED, "{}", user.text);
    let token = app
        .post(
            "/api/v1/tokens",
            json!({"name": "alertmanager", "role": "alert_source"}),
        )
        .await;
    assert_eq!(token.status, StatusCode::CREATED, "{}", token.text);
    let id = token.json["id"].as_str().expect("id");
    let revoked = app
        .request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let missing = app
        .request(Method::DELETE, &format!("/api/v1/tokens/{id}"), &[], None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let log = app.get("/api/v1/changes?limit=3").await;
    let changes = log.json["changes"].as_array().expect("changes");
    let kinds: Vec<&str> = changes
        .iter()
        .map(|c| c["kind"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["token_revoked", "token_created", "user_saved"]);
    assert!(
        changes.iter().all(|c| c["actor"] == "token:test-admin"),
        "{}",
        log.text
    );
    assert_eq!(changes[2]["item"], "carol");
    assert_eq!(changes[2]["after"]["role"], "editor");
    assert_eq!(changes[1]["after"]["role"], "alert_source");
    assert_eq!(changes[0]["before"]["id"], id);
    let bearer = token.json["token"].as_str().expect("bearer");
    let secret = bearer.rsplit('_').next().expect("secret");
    assert!(!log.text.contains(secret), "no token secret in the log");
    assert!(!log.text.contains("argon2"), "no password hash in the log");
    let only_users = app.get("/api/v1/changes?kind=user_saved").await;
    assert_eq!(
        only_users.json["changes"].as_array().map(Vec::len),
        Some(1),
        "{}",
        only_users.text
    );

    let report = setpoint_server::verify::verify(&*app.store)
        .await
        .expect("verifies");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

#[tokio::test]
async fn a_password_reset_or_a_deletion_ends_the_users_sessions() {
    let app = TestApp::seeded().await;
    app.post(
        "/api/v1/users",
        json!({"username": "gina", "password": "correct horse battery", "role": "editor"}),
    )
    .await;
    let app = &app;
    let log_in = || async {
        let login = app
            .request(
                Method::POST,
                "/api/v1/session",
                &[("cookie", "x=1")],
                Some(json!({"username": "gina", "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.text);
        cookie_of(&login)
    };
    let me = |cookie: String| async move {
        app.request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
            .await
            .status
    };

    // A reset (as `setpoint user add` does: the same user saved again).
    let cookie = log_in().await;
    assert_eq!(me(cookie.clone()).await, StatusCode::OK);
    let user = app
        .store
        .user("gina")
        .await
        .expect("reads")
        .expect("exists");
    app.engine
        .write_account(AccountWrite::PutUser(user), "test", "reset")
        .await
        .expect("saved");
    assert_eq!(me(cookie).await, StatusCode::UNAUTHORIZED);

    let cookie = log_in().await;
    let deleted = app
        .request(Method::DELETE, "/api/v1/users/gina", &[], None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.text);
    assert_eq!(me(cookie).await, StatusCode::UNAUTHORIZED);
    let users = app.get("/api/v1/users").await.text;
    assert!(!users.contains("gina"), "{users}");
    let log = app.get("/api/v1/changes?kind=user_deleted").await;
    assert_eq!(log.json["changes"][0]["item"], "gina");
}

#[tokio::test]
async fn an_admin_changes_a_users_role_and_services_and_resets_their_password() {
    let app = TestApp::seeded().await;
    app.post(
        "/api/v1/users",
        json!({"username": "gina", "password": "correct horse battery", "role": "editor"}),
    )
    .await;
    let app = &app;
    let log_in = |password: &'static str| async move {
        app.request(
            Method::POST,
            "/api/v1/session",
            &[("cookie", "x=1")],
            Some(json!({"username": "gina", "password": password})),
        )
        .await
    };
    let me = |cookie: String| async move {
        app.request(Method::GET, "/api/v1/me", &[("cookie", &cookie)], None)
            .await
    };
    let patch = |body: Value| async move {
        app.request(Method::PATCH, "/api/v1/users/gina", &[], Some(body))
            .await
    };

    let before = cookie_of(&log_in("correct horse battery").await);
    let changed = patch(json!({"role": "viewer", "services": ["checkout"]})).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json["role"], "viewer");
    assert_eq!(changed.json["services"], json!(["checkout"]));
    assert_eq!(
        me(before).await.status,
        StatusCode::UNAUTHORIZED,
        "a login does not outlive its role"
    );
    let now = me(cookie_of(&log_in("correct horse battery").await)).await;
    assert_eq!(
        (now.json["role"].clone(), now.json["services"].clone()),
        (json!("viewer"), json!(["checkout"]))
    );

    // Absent keeps, null means every service.
    let all = patch(json!({"services": null})).await;
    assert_eq!(all.json["role"], "viewer", "{}", all.text);
    assert_eq!(all.json.get("services"), None);

    // Bad input changes nothing.
    for (body, code) in [
        (json!({"password": "short"}), "weak_password"),
        (json!({"role": "agent"}), "machine_role"),
        (json!({"role": "overlord"}), "malformed_json"),
        (json!({"email": "g@example.com"}), "malformed_json"),
    ] {
        let refused = patch(body.clone()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.text
        );
        assert_eq!(refused.json["error"]["code"], code, "{body}");
    }
    assert_eq!(log_in("correct horse battery").await.status, StatusCode::OK);

    let reset = patch(json!({"password": "a brand new passphrase"})).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(
        log_in("correct horse battery").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        log_in("a brand new passphrase").await.status,
        StatusCode::OK
    );

    let missing = app
        .request(
            Method::PATCH,
            "/api/v1/users/nobody",
            &[],
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let log = app.get("/api/v1/changes?kind=user_saved&limit=10").await;
    let saved: Vec<_> = log.json["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter(|c| c["item"] == "gina")
        .collect();
    assert_eq!(
        saved.len(),
        4,
        "created, changed, services, reset: {}",
        log.text
    );
    assert!(!log.text.contains("argon2"), "no password hash in the log");
}

#[tokio::test]
async fn admins_scoped_to_a_service_or_environment_manage_no_people_and_import_nothing() {
    let app = TestApp::seeded().await;
    app.post(
        "/api/v1/users",
        json!({"username": "gina", "password": "correct horse battery", "role": "editor"}),
    )
    .await;
    let before = app.get("/api/v1/export").await.json;
    for (name, services, environment) in [
        ("checkout-admin", Some(&["checkout"][..]), None),
        ("staging-admin", None, Some("staging")),
    ] {
        let bearer = format!(
            "Bearer {}",
            app.token(name, Role::Admin, services, environment).await
        );
        let auth = [("authorization", bearer.as_str())];
        for (method, uri, body) in [
            (
                Method::PATCH,
                "/api/v1/users/gina",
                json!({"role": "admin"}),
            ),
            (
                Method::POST,
                "/api/v1/import",
                json!({"document": before, "dry_run": true}),
            ),
        ] {
            let reply = app.request(method, uri, &auth, Some(body)).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "{name}: {uri}: {}",
                reply.text
            );
            assert!(!reply.text.contains("plan"), "{name}: no plan leaks");
        }
    }
    let gina = app.get("/api/v1/users").await.json;
    assert!(
        gina.as_array()
            .expect("users")
            .iter()
            .any(|u| u["username"] == "gina" && u["role"] == "editor"),
        "{gina}"
    );
}
