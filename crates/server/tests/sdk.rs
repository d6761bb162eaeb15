//! The SDK (`setpoint-client`) against real parts: etcd written by a real
//! `setpoint agent`, central over HTTP, and the SDK's example service as a
//! process — a change made through the API reaches it, and it keeps
//! serving when the agent, central and etcd go away.

mod common;

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::parts::{Central, Etcd, Running, agent, eventually, free_port};
use serde_json::Value;
use setpoint_client::{Client, EtcdSource, HttpSource, Key};

const SOON: Duration = Duration::from_secs(30);

/// The example service's binary, built beside this test's `setpoint` (the
/// workspace's `cargo test` builds every example; alone, this builds it).
fn example_binary() -> PathBuf {
    let setpoint = PathBuf::from(env!("CARGO_BIN_EXE_setpoint"));
    let binary = setpoint
        .parent()
        .expect("a target directory")
        .join("examples/checkout");
    if !binary.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "setpoint-client", "--example", "checkout"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "the example builds");
    }
    binary
}

/// The example service, serving on its own port.
struct Example {
    _process: Running,
    url: String,
}

impl Example {
    async fn start(args: &[String]) -> Self {
        let port = free_port();
        let child = Command::new(example_binary())
            .args(["--environment", "prod", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the example starts");
        let example = Self {
            _process: Running(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        eventually(SOON, "the example answers", || async {
            example.try_serve().await.is_some()
        })
        .await;
        example
    }

    async fn try_serve(&self) -> Option<Value> {
        reqwest::get(format!("{}/?user=u-1&country=US", self.url))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn serve(&self) -> Value {
        self.try_serve().await.expect("the example answers")
    }

    async fn rps(&self) -> Value {
        self.serve().await["throttle_rps"].clone()
    }
}

#[tokio::test]
async fn the_example_service_follows_etcd_and_outlives_its_sources() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let cache = scratch.path().join("checkout-cache.json");
    let cache_arg = |path: &PathBuf| vec!["--cache".to_string(), path.display().to_string()];

    // Every source down: the compiled defaults.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let mut lonely = cache_arg(&scratch.path().join("never-written.json"));
    lonely.extend(["--etcd".into(), nowhere.clone()]);
    let alone = Example::start(&lonely).await;
    let defaults = alone.serve().await;
    assert_eq!(
        (
            &defaults["revision"],
            &defaults["throttle_rps"],
            &defaults["timeout_ms"]
        ),
        (&Value::from(0), &Value::from(100), &Value::from(1000)),
        "{defaults}"
    );
    assert_eq!(defaults["payments_open"], false);
    drop(alone);

    let mut etcd = Etcd::start().await;
    let mut central = Central::start().await;
    let mut agent = agent(
        &central.url(),
        &central.agent,
        "eu-1",
        &["--etcd".into(), etcd.url()],
    );
    let mut args = cache_arg(&cache);
    args.extend(["--etcd".into(), etcd.url()]);
    let example = Example::start(&args).await;
    eventually(SOON, "the example reads prod's snapshot", || async {
        example.serve().await["revision"].as_u64() > Some(0)
    })
    .await;
    let prod = etcd.service("prod", "checkout").await.services["checkout"].clone();
    assert_eq!(example.rps().await, prod.config["throttle.rps"]);
    assert_eq!(example.serve().await["timeout_ms"], 2000, "prod's \"2s\"");

    // A change through the API reaches the service.
    let changed = Instant::now();
    central.set_rps(4321).await;
    eventually(SOON, "the change reaches the example", || async {
        example.rps().await == 4321
    })
    .await;
    eprintln!(
        "API change to the example service's answer: {:?}",
        changed.elapsed()
    );

    // The agent and central go away, then etcd: the last values stay.
    agent.process.stop();
    central.kill();
    assert_eq!(example.rps().await, 4321);
    etcd.kill();
    for _ in 0..10 {
        assert_eq!(example.rps().await, 4321, "still serving with etcd gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let health: Value = reqwest::get(format!("{}/healthz", example.url))
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert!(
        health["source"]
            .as_str()
            .is_some_and(|s| s.starts_with("etcd:")),
        "{health}"
    );
    drop(example);

    // Restarted with every source down, it starts from its cache.
    let restarted = Example::start(&args).await;
    assert_eq!(restarted.rps().await, 4321);
}

fn checkout_client(source: impl setpoint_client::Source) -> (Client, Key<u32>) {
    let mut builder = Client::builder("checkout");
    let rps = builder.key("throttle.rps", 1u32);
    builder.environment("prod").source(source);
    (builder.build().expect("builds"), rps)
}

#[tokio::test]
async fn the_http_source_long_polls_central_and_comes_back_after_it_restarts() {
    let mut central = Central::start().await;
    let (client, rps) = checkout_client(
        HttpSource::central(&central.url(), "prod", "checkout")
            .token(&central.admin)
            .max_backoff(Duration::from_millis(500)),
    );
    eventually(SOON, "the first snapshot loads", || async {
        client.revision() > 0
    })
    .await;
    central.set_rps(777).await;
    eventually(SOON, "the change loads", || async {
        client.get(&rps) == 777
    })
    .await;

    central.kill();
    assert_eq!(client.get(&rps), 777, "last good while central is down");
    central.restart(&[]).await;
    central.set_rps(778).await;
    eventually(SOON, "a change after the restart loads", || async {
        client.get(&rps) == 778
    })
    .await;
    let source = client.status().current.expect("loaded").source;
    assert!(source.starts_with("http:"), "{source}");
}

#[tokio::test]
async fn the_etcd_source_watches_again_after_etcd_restarts() {
    let mut etcd = Etcd::start().await;
    let central = Central::start().await;
    let _agent = agent(
        &central.url(),
        &central.agent,
        "eu-1",
        &["--etcd".into(), etcd.url()],
    );
    let (client, rps) = checkout_client(
        EtcdSource::new(&[etcd.url()], "prod", "checkout").max_backoff(Duration::from_millis(500)),
    );
    let changes = client.subscribe();
    eventually(SOON, "the first snapshot loads", || async {
        client.revision() > 0
    })
    .await;

    central.set_rps(901).await;
    eventually(SOON, "a watched change loads", || async {
        client.get(&rps) == 901
    })
    .await;
    assert!(changes.has_changed().expect("open"), "subscribers are told");

    etcd.restart().await;
    central.set_rps(902).await;
    eventually(SOON, "a change after etcd's restart loads", || async {
        client.get(&rps) == 902
    })
    .await;
    assert!(
        client.history().len() >= 3,
        "each revision is in the history"
    );
}
