//! Writes that race: whatever a handler decides from the state it read is
//! decided at the base the client named, and the writer commits only if
//! that base is still current — so a concurrent change is never undone.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use common::TestApp;
use serde_json::json;
use setpoint_core::ChangeKind;
use setpoint_server::store::ChangeQuery;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollback_of_one_environment_never_reverts_a_concurrent_change_to_another() {
    let app = Arc::new(TestApp::seeded().await);
    let seeded = app.revision("checkout").await;
    // Each round a prod edit and a staging rollback race. The rollback
    // names the revision the prod edit will commit as its base — as a
    // client that learned it from an event, or guessed it, would: the
    // writer alone cannot tell that the rollback's target was computed
    // from the state before that edit.
    for round in 0..100_u64 {
        let base = app.revision("checkout").await;
        let prod = {
            let app = Arc::clone(&app);
            tokio::spawn(async move {
                app.request(
                    Method::PATCH,
                    "/api/v1/services/checkout/values/prod",
                    &[],
                    Some(json!({"set": {"throttle.rps": 1000 + round}, "base_revision": base})),
                )
                .await
            })
        };
        let reply = app
            .request(
                Method::POST,
                "/api/v1/services/checkout/rollback",
                &[],
                Some(json!({"to_revision": seeded, "environment": "staging", "base_revision": base + 1})),
            )
            .await;
        assert!(
            matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT),
            "{}",
            reply.text
        );
        let prod = prod.await.expect("prod edit");
        assert_eq!(prod.status, StatusCode::OK, "{}", prod.text);
    }
    let rollbacks = app
        .engine
        .changes(&ChangeQuery {
            kind: Some(ChangeKind::Rollback),
            limit: 500,
            ..ChangeQuery::default()
        })
        .await
        .expect("log");
    for change in rollbacks {
        let (before, after) = (change.before.expect("before"), change.after.expect("after"));
        assert_eq!(
            before["values"]["prod"], after["values"]["prod"],
            "revision {}: a staging rollback changed prod",
            change.revision
        );
    }
}
