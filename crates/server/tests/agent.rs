//! `setpoint agent` against real parts: the `setpoint` server and etcd
//! (Debian's `etcd-server`) as processes, and faults — each killed,
//! wiped, or a test double in front of central that tampers with or
//! freezes what it serves.

mod common;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{body::Bytes, extract::State, http::Uri, response::IntoResponse};
use common::parts::{Central, Etcd, agent, eventually, path_in};

const SOON: Duration = Duration::from_secs(30);

fn etcd_args(etcd: &Etcd) -> Vec<String> {
    vec!["--etcd".into(), etcd.url()]
}

async fn rps(etcd: &Etcd) -> serde_json::Value {
    etcd.service("prod", "checkout").await.services["checkout"].config["throttle.rps"].clone()
}

#[tokio::test]
async fn a_change_reaches_etcd_verified_and_survives_central_going_away() {
    let etcd = Etcd::start().await;
    let mut central = Central::start().await;
    let files = tempfile::tempdir().expect("temp dir");
    let mut extra = etcd_args(&etcd);
    extra.extend(["--file".into(), files.path().display().to_string()]);
    let agent = agent(&central.url(), &central.agent, "eu-1", &extra);
    let first = central.prod_revision().await;
    eventually(SOON, "the first snapshot is in etcd", || async {
        etcd.revision("prod").await == Some(first)
    })
    .await;

    central.set_rps(1111).await;
    let desired = central.prod_revision().await;
    eventually(SOON, "the change is in etcd", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    assert_eq!(rps(&etcd).await, 1111);
    // Only the service that changed got a new part.
    let meta = etcd.meta("prod").await.expect("meta");
    let parts = meta["services"].as_object().expect("services");
    assert_eq!(parts["checkout"], desired);
    assert!(
        parts
            .iter()
            .filter(|(name, _)| *name != "checkout")
            .all(|(_, revision)| revision.as_u64() < Some(desired)),
        "{meta}"
    );
    let on_disk = std::fs::read(files.path().join("prod/services/checkout.json")).expect("file");
    let part = setpoint_core::snapshot::verify(&on_disk).expect("the file verifies");
    assert_eq!(part.services["checkout"].config["throttle.rps"], 1111);
    let whole = std::fs::read(files.path().join("prod/snapshot.json")).expect("file");
    assert_eq!(
        setpoint_core::snapshot::verify(&whole)
            .expect("verifies")
            .revision,
        desired
    );
    eventually(SOON, "central sees the cluster in sync", || async {
        central
            .cluster("eu-1")
            .await
            .is_some_and(|c| c["state"] == "in_sync" && c["report"]["revision"] == desired)
    })
    .await;

    // Central goes away: etcd keeps the last snapshot; the agent keeps
    // trying.
    central.kill();
    eventually(SOON, "the agent notices", || async {
        agent.failures("central").await >= 2
    })
    .await;
    assert_eq!(etcd.revision("prod").await, Some(desired));
    assert_eq!(rps(&etcd).await, 1111);

    // Back: without restarting the agent, a new change arrives.
    central.restart(&[]).await;
    central.set_rps(2222).await;
    let desired = central.prod_revision().await;
    eventually(SOON, "the agent converges", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    assert_eq!(rps(&etcd).await, 2222);
    eventually(
        SOON,
        "superseded parts are deleted after the grace",
        || async {
            etcd.count("/setpoint/prod/services/checkout/").await == 1
                && etcd.count("/setpoint/prod/snapshots/").await == 1
        },
    )
    .await;
    assert_eq!(rps(&etcd).await, 2222, "the named part stays");
    eventually(SOON, "central sees it in sync again", || async {
        central
            .cluster("eu-1")
            .await
            .is_some_and(|c| c["state"] == "in_sync" && c["report"]["revision"] == desired)
    })
    .await;
}

#[tokio::test]
async fn etcd_down_shows_failing_then_converges() {
    let mut etcd = Etcd::start().await;
    let central = Central::start().await;
    let _agent = agent(&central.url(), &central.agent, "eu-1", &etcd_args(&etcd));
    let first = central.prod_revision().await;
    eventually(SOON, "written", || async {
        etcd.revision("prod").await == Some(first)
    })
    .await;

    etcd.kill();
    central.set_rps(3333).await;
    eventually(SOON, "central shows the cluster failing", || async {
        central.cluster("eu-1").await.is_some_and(|c| {
            c["state"] == "failing"
                && c["report"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("etcd:"))
        })
    })
    .await;

    etcd.restart().await;
    let desired = central.prod_revision().await;
    eventually(SOON, "converges once etcd is back", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    assert_eq!(rps(&etcd).await, 3333);
    eventually(SOON, "and central sees it", || async {
        central
            .cluster("eu-1")
            .await
            .is_some_and(|c| c["state"] == "in_sync")
    })
    .await;
}

/// What the double in front of central does to snapshots.
#[derive(Clone)]
enum Mode {
    /// Passes everything through.
    Pass,
    /// Changes a value in snapshots, leaving their checksum.
    Tamper,
    /// Serves this snapshot (after a pause, as a long-poll would).
    Frozen(Vec<u8>),
}

#[derive(Clone)]
struct Double {
    central: String,
    mode: Arc<Mutex<Mode>>,
    http: reqwest::Client,
}

/// A test double in front of central: forwards every request, and does
/// `mode` to snapshot answers.
async fn double(central: &str, mode: Mode) -> (String, Arc<Mutex<Mode>>) {
    let mode = Arc::new(Mutex::new(mode));
    let state = Double {
        central: central.to_owned(),
        mode: mode.clone(),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), mode)
}

async fn forward(
    State(double): State<Double>,
    method: axum::http::Method,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let is_snapshot = uri.path().ends_with("/snapshot");
    let frozen = double.mode.lock().expect("lock").clone();
    if let (true, Mode::Frozen(bytes)) = (is_snapshot, frozen) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return ([("content-type", "application/json")], bytes.clone()).into_response();
    }
    let mut request = double.http.request(
        method,
        format!(
            "{}{}",
            double.central,
            uri.path_and_query().map_or("/", |p| p.as_str())
        ),
    );
    for name in ["authorization", "content-type", "if-none-match"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    let Ok(response) = request.body(body).send().await else {
        return axum::http::StatusCode::BAD_GATEWAY.into_response();
    };
    let status = response.status();
    let etag = response.headers().get("etag").cloned();
    let mut bytes = response.bytes().await.unwrap_or_default().to_vec();
    // The mode when the answer comes back: a long-poll may have been
    // asked before the mode changed.
    let tamper = matches!(*double.mode.lock().expect("lock"), Mode::Tamper);
    if is_snapshot && tamper {
        let text = String::from_utf8(bytes).expect("utf-8");
        bytes = text
            .replace("\"throttle.rps\":4444", "\"throttle.rps\":9999")
            .into_bytes();
    }
    let mut answer = (status, bytes).into_response();
    if let Some(etag) = etag {
        answer.headers_mut().insert("etag", etag);
    }
    answer
}

#[tokio::test]
async fn a_snapshot_that_does_not_verify_is_never_written() {
    let etcd = Etcd::start().await;
    let central = Central::start().await;
    let (front, mode) = double(&central.url(), Mode::Pass).await;
    let agent = agent(&front, &central.agent, "eu-1", &etcd_args(&etcd));
    let first = central.prod_revision().await;
    eventually(SOON, "written", || async {
        etcd.revision("prod").await == Some(first)
    })
    .await;

    *mode.lock().expect("lock") = Mode::Tamper;
    central.set_rps(4444).await;
    eventually(SOON, "the agent refuses it", || async {
        agent.failures("verify").await >= 1
    })
    .await;
    eventually(SOON, "central shows why", || async {
        central.cluster("eu-1").await.is_some_and(|c| {
            c["state"] == "failing"
                && c["report"]["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("checksum"))
        })
    })
    .await;
    assert_eq!(etcd.revision("prod").await, Some(first), "nothing written");
    assert_ne!(rps(&etcd).await, 9999);

    *mode.lock().expect("lock") = Mode::Pass;
    let desired = central.prod_revision().await;
    eventually(SOON, "the true snapshot arrives", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    assert_eq!(rps(&etcd).await, 4444);
}

#[tokio::test]
async fn two_agents_on_one_prefix_never_move_it_backwards() {
    let etcd = Etcd::start().await;
    let central = Central::start().await;
    let old = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/environments/prod/snapshot",
            central.url()
        ))
        .bearer_auth(&central.admin)
        .send()
        .await
        .expect("central answers")
        .bytes()
        .await
        .expect("body")
        .to_vec();
    central.set_rps(5555).await;
    let desired = central.prod_revision().await;
    let _current = agent(&central.url(), &central.agent, "a", &etcd_args(&etcd));
    eventually(SOON, "the current agent writes", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;

    let (front, _mode) = double(&central.url(), Mode::Frozen(old)).await;
    let _stale = agent(&front, &central.agent, "b", &etcd_args(&etcd));
    // Until the stale agent has tried (its sink reports what etcd holds),
    // etcd's revision never goes down.
    let mut tried = false;
    let deadline = std::time::Instant::now() + SOON;
    while !tried {
        assert!(
            std::time::Instant::now() < deadline,
            "the stale agent never reported"
        );
        let held = etcd.revision("prod").await;
        assert!(held >= Some(desired), "etcd went back to {held:?}");
        tried = central.cluster("b").await.is_some_and(|c| {
            c["report"]["sinks"][0]["ok"] == true && c["report"]["sinks"][0]["revision"] == desired
        });
    }
    for _ in 0..20 {
        assert_eq!(etcd.revision("prod").await, Some(desired));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rps(&etcd).await, 5555);
}

#[tokio::test]
async fn a_restarted_agent_refills_a_wiped_etcd_while_central_is_down() {
    let etcd = Etcd::start().await;
    let mut central = Central::start().await;
    let state = tempfile::tempdir().expect("temp dir");
    let mut extra = etcd_args(&etcd);
    extra.extend([
        "--state-dir".into(),
        path_in(&state, "agent").display().to_string(),
    ]);
    central.set_rps(6666).await;
    let desired = central.prod_revision().await;
    let mut first = agent(&central.url(), &central.agent, "eu-1", &extra);
    eventually(SOON, "written", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    // The agent saves its last-known-good after writing the sinks: stopped
    // between the two, it would have nothing to refill etcd from.
    let saved = path_in(&state, "agent").join("prod.snapshot.json");
    eventually(SOON, "the last-known-good is saved", || async {
        std::fs::read(&saved)
            .ok()
            .and_then(|bytes| setpoint_core::snapshot::verify(&bytes).ok())
            .is_some_and(|snapshot| snapshot.revision == desired)
    })
    .await;

    central.kill();
    first.process.stop();
    etcd.wipe().await;
    assert_eq!(etcd.revision("prod").await, None);

    let _second = agent(&central.url(), &central.agent, "eu-1", &extra);
    eventually(SOON, "the last-known-good is written back", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    assert_eq!(rps(&etcd).await, 6666);
}

#[tokio::test]
async fn once_exits_zero_when_written_and_non_zero_when_central_is_away() {
    let etcd = Etcd::start().await;
    let mut central = Central::start().await;
    let token = central.agent.clone();
    let run = |server: String| {
        let token = token.clone();
        let url = etcd.url();
        async move {
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(env!("CARGO_BIN_EXE_setpoint"))
                    .args([
                        "agent",
                        "--once",
                        "--environment",
                        "prod",
                        "--cluster",
                        "cron",
                    ])
                    .args(["--server", &server, "--token", &token, "--etcd", &url])
                    .output()
                    .expect("runs")
            })
            .await
            .expect("joins")
        }
    };
    let output = run(central.url()).await;
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        etcd.revision("prod").await,
        Some(central.prod_revision().await)
    );
    let again = run(central.url()).await;
    assert!(again.status.success(), "already current is fine: {again:?}");
    central.kill();
    let away = run(central.url()).await;
    assert!(!away.status.success());
    assert!(
        String::from_utf8_lossy(&away.stderr).contains("central"),
        "{away:?}"
    );
}

#[tokio::test]
async fn an_environment_of_two_thousand_services_fits_a_default_etcd() {
    let etcd = Etcd::start().await;
    let mut central = Central::new();
    let mut services = Vec::new();
    for n in 0..2000 {
        let mut doc: serde_json::Value = serde_json::from_str(common::EXAMPLE).expect("example");
        doc["service"] = serde_json::json!(format!("svc-{n:04}"));
        services.push(doc);
    }
    let export = serde_json::json!({
        "format": "setpoint/1",
        "environments": [{"name": "dev"}, {"name": "staging"}, {"name": "prod"}],
        "services": services,
    });
    let file = central.data.path().join("import.json");
    std::fs::write(&file, export.to_string()).expect("write");
    let imported = std::process::Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["import"])
        .arg(&file)
        .arg("--data")
        .arg(central.data.path())
        .output()
        .expect("import runs");
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
            .chars()
            .take(500)
            .collect::<String>()
    );
    central.restart(&[]).await;

    let _agent = agent(&central.url(), &central.agent, "eu-1", &etcd_args(&etcd));
    let desired = central.prod_revision().await;
    eventually(Duration::from_mins(2), "2,000 services written", || async {
        etcd.revision("prod").await == Some(desired)
    })
    .await;
    let meta = etcd.meta("prod").await.expect("meta");
    assert_eq!(
        meta["services"].as_object().map(serde_json::Map::len),
        Some(2000)
    );
    assert_eq!(etcd.count("/setpoint/prod/services/").await, 2000);
    assert_eq!(
        etcd.count("/setpoint/prod/snapshots/").await,
        usize::from(meta["whole"] == true)
    );
    let part = etcd.service("prod", "svc-1234").await;
    assert_eq!(part.revision, desired);
    assert_eq!(part.services.len(), 1);
}
