//! Several `setpoint serve` processes on one real PostgreSQL: every
//! replica takes any request, follows every commit, and a write checks its
//! base against what is committed, not against a replica's copy.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::parts::{Alertmanager, Central, Nginx, Postgres, eventually};
use serde_json::{Value, json};

const WITHIN: Duration = Duration::from_secs(30);

/// Three replicas of one database, the first seeded with demo data.
async fn three(postgres: &Postgres) -> [Central; 3] {
    let url = postgres.database("setpoint");
    let mut a = Central::on_postgres(&url);
    a.restart(&["--demo"]).await;
    let mut b = a.replica();
    let mut c = a.replica();
    b.restart(&[]).await;
    c.restart(&[]).await;
    [a, b, c]
}

async fn rps_on(central: &Central) -> Value {
    let snapshot = central.get("/api/v1/environments/prod/snapshot").await;
    snapshot["services"]["checkout"]["config"]["throttle.rps"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_on_one_replica_is_served_by_the_others() {
    let postgres = Postgres::start();
    let [a, b, c] = three(&postgres).await;

    let written = Instant::now();
    a.set_rps(777).await;
    for replica in [&b, &c] {
        eventually(WITHIN, "the write reaches the other replicas", || async {
            rps_on(replica).await == json!(777)
        })
        .await;
    }
    eprintln!("seen on both other replicas after {:?}", written.elapsed());

    // The same snapshot, to the byte: the same revision and ETag anywhere
    // behind the load balancer.
    let etag = |central: &Central| {
        let url = format!("{}/api/v1/environments/prod/snapshot", central.url());
        let admin = central.admin.clone();
        async move {
            let response = reqwest::Client::new()
                .get(url)
                .bearer_auth(admin)
                .send()
                .await
                .expect("answers");
            response.headers()["etag"]
                .to_str()
                .expect("ascii")
                .to_owned()
        }
    };
    assert_eq!(etag(&a).await, etag(&b).await);
    assert_eq!(etag(&b).await, etag(&c).await);
    assert_eq!(a.prod_revision().await, c.prod_revision().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_based_on_another_replicas_answer_lands_at_once() {
    let postgres = Postgres::start();
    let replicas = three(&postgres).await;
    let http = reqwest::Client::new();
    let mut base = replicas[0].get("/api/v1/services/checkout").await["revision"].clone();
    // Each write names the revision the previous one, on another replica,
    // answered — as a client behind a load balancer does — with no wait.
    for n in 0..12 {
        let replica = &replicas[n % 3];
        let answer = http
            .patch(format!(
                "{}/api/v1/services/checkout/values/prod",
                replica.url()
            ))
            .bearer_auth(&replica.admin)
            .json(&json!({"base_revision": base, "set": {"throttle.rps": 100 + n}}))
            .send()
            .await
            .expect("answers");
        assert_eq!(answer.status(), 200, "write {n}");
        let change: Value = answer.json().await.expect("json");
        base = change["revision"].clone();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn of_thirty_two_writes_on_one_base_across_replicas_exactly_one_lands() {
    let postgres = Postgres::start();
    let replicas = three(&postgres).await;
    let base = replicas[0].get("/api/v1/services/checkout").await["revision"].clone();
    // Every replica has the base before the race starts.
    for replica in &replicas {
        eventually(WITHIN, "each replica is at the base", || async {
            replica.get("/api/v1/services/checkout").await["revision"] == base
        })
        .await;
    }

    let http = reqwest::Client::new();
    let writes = (0..32).map(|i| {
        let replica = &replicas[i % 3];
        let request = http
            .patch(format!(
                "{}/api/v1/services/checkout/values/prod",
                replica.url()
            ))
            .bearer_auth(&replica.admin)
            .json(&json!({
                "base_revision": base,
                "set": {"throttle.rps": 1000 + i},
                "reason": format!("race {i}"),
            }))
            .send();
        async move { request.await.expect("answers").status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(writes).await;
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        31,
        "{statuses:?}"
    );

    // One change in the log, the same on every replica.
    for replica in &replicas {
        let page = replica
            .get("/api/v1/changes?service=checkout&limit=50")
            .await;
        let races: Vec<&Value> = page["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .filter(|c| c["reason"].as_str().is_some_and(|r| r.starts_with("race ")))
            .collect();
        assert_eq!(races.len(), 1, "{races:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_login_on_one_replica_writes_through_another() {
    let postgres = Postgres::start();
    let [a, b, _c] = three(&postgres).await;
    let http = reqwest::Client::new();
    let login = http
        .post(format!("{}/api/v1/session", a.url()))
        .json(&json!({"username": "admin", "password": "a-long-test-password"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(login.status(), 200);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("a cookie")
        .to_owned();
    let me: Value = login.json().await.expect("json");
    let csrf = me["csrf_token"].as_str().expect("a CSRF token").to_owned();

    let base = b.get("/api/v1/services/checkout").await["revision"].clone();
    let write = http
        .patch(format!("{}/api/v1/services/checkout/values/prod", b.url()))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"base_revision": base, "set": {"throttle.rps": 4321}, "reason": "from b"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(write.status(), 200, "{:?}", write.text().await);
    eventually(
        WITHIN,
        "the write reaches the replica logged in on",
        || async { rps_on(&a).await == json!(4321) },
    )
    .await;

    // Logging out on b ends the session on a too.
    let logout = http
        .delete(format!("{}/api/v1/session", b.url()))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .expect("answers");
    assert!(logout.status().is_success(), "{}", logout.status());
    let after = http
        .get(format!("{}/api/v1/me", a.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("answers");
    assert_eq!(after.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_restarted_after_others_wrote_starts_from_their_writes() {
    let postgres = Postgres::start();
    let [a, mut b, _c] = three(&postgres).await;
    b.kill();
    // A long absence: many commits, to values, flags and environments.
    for rps in 0..100 {
        a.set_rps(31237 + rps).await;
    }
    a.put_flag(
        "checkout",
        "late-flag",
        json!({"variants": {"on": true, "off": false}, "off": "off"}),
    )
    .await;
    b.restart(&[]).await;
    assert_eq!(rps_on(&b).await, json!(31336));
    for environment in ["dev", "staging", "prod"] {
        let path = format!("/api/v1/environments/{environment}/snapshot");
        assert_eq!(
            a.get(&path).await["checksum"],
            b.get(&path).await["checksum"]
        );
    }
    a.set_rps(31337).await;

    // The offline commands work on the shared store beside the replicas.
    let export = b.cli(&["export"]);
    assert!(export.status.success(), "{export:?}");
    let export: Value = serde_json::from_slice(&export.stdout).expect("an export document");
    let checkout = export["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == "checkout")
        .expect("checkout");
    assert_eq!(checkout["values"]["prod"]["throttle.rps"], 31337);
    let verify = b.cli(&["verify"]);
    assert!(verify.status.success(), "{verify:?}");

    // And it follows writes made after it came back.
    a.set_rps(42).await;
    eventually(
        WITHIN,
        "the next write reaches the restarted replica",
        || async { rps_on(&b).await == json!(42) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_delivered_to_two_replicas_trips_the_breaker_once() {
    let postgres = Postgres::start();
    let [a, b, _c] = three(&postgres).await;
    let hook = a.token("alertmanager", &["--role", "alert_source"]);
    let payload = json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"PaymentsErrorRate\"}",
        "status": "firing",
        "receiver": "setpoint",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "PaymentsErrorRate", "service": "checkout", "environment": "prod"},
            "annotations": {"summary": "5xx above 5%"},
            "startsAt": "2026-11-22T08:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": "0ddba11"
        }]
    });
    // Alertmanager in a cluster of its own delivers to every replica the
    // load balancer picks: here, to two at once.
    let http = reqwest::Client::new();
    let deliveries = [&a, &b].map(|replica| {
        http.post(format!("{}/api/v1/hooks/alertmanager", replica.url()))
            .bearer_auth(&hook)
            .json(&payload)
            .send()
    });
    for delivered in futures_util::future::join_all(deliveries).await {
        let delivered = delivered.expect("answers");
        assert!(delivered.status().is_success(), "{}", delivered.status());
    }
    for replica in [&a, &b] {
        eventually(WITHIN, "the breaker is open on every replica", || async {
            let board = replica.get("/api/v1/environments/prod/breakers").await;
            board.as_array().is_some_and(|breakers| {
                breakers
                    .iter()
                    .any(|b| b["breaker"] == "payments-provider" && b["state"] == "open")
            })
        })
        .await;
    }
    let page = a
        .get("/api/v1/changes?service=checkout&kind=breaker_transition&limit=50")
        .await;
    let trips = page["changes"].as_array().expect("changes");
    assert_eq!(trips.len(), 1, "{trips:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_revoked_on_one_replica_is_refused_by_the_others_once_they_follow() {
    let postgres = Postgres::start();
    let [a, b, _c] = three(&postgres).await;
    let viewer = a.token("dashboard", &["--role", "viewer"]);
    let http = reqwest::Client::new();
    let read_on_b = || {
        http.get(format!("{}/api/v1/services", b.url()))
            .bearer_auth(&viewer)
            .send()
    };
    // Cached on b now.
    assert_eq!(read_on_b().await.expect("answers").status(), 200);

    let tokens = a.get("/api/v1/tokens").await;
    let id = tokens
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "dashboard")
        .expect("the token")["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let revoked = http
        .delete(format!("{}/api/v1/tokens/{id}", a.url()))
        .bearer_auth(&a.admin)
        .send()
        .await
        .expect("answers");
    assert!(revoked.status().is_success(), "{}", revoked.status());
    let revision = a.get("/readyz").await["revision"]
        .as_u64()
        .expect("a revision");
    eventually(WITHIN, "b follows the revocation", || async {
        b.get("/readyz").await["revision"].as_u64() >= Some(revision)
    })
    .await;
    // Refused from the change on, not after the cache's 5 s: the cache
    // forgets the token as the change arrives (a task a moment behind).
    eventually(
        Duration::from_secs(3),
        "b refuses the revoked token",
        || async { read_on_b().await.expect("answers").status() == 401 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_stream_on_one_replica_carries_a_write_made_on_another() {
    let postgres = Postgres::start();
    let [a, b, _c] = three(&postgres).await;
    let from = b.get("/readyz").await["revision"]
        .as_u64()
        .expect("a revision");
    let mut stream = reqwest::Client::new()
        .get(format!("{}/api/v1/events", b.url()))
        .bearer_auth(&b.admin)
        .header("last-event-id", from.to_string())
        .send()
        .await
        .expect("answers");
    assert_eq!(stream.status(), 200);
    a.set_rps(2468).await;
    let seen = read_until(&mut stream, "2468").await;
    assert!(seen.contains(&format!("id: {}\n", from + 1)), "{seen}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_wait_out_the_database_going_away() {
    let mut postgres = Postgres::start();
    let [a, b, _c] = three(&postgres).await;
    let http = reqwest::Client::new();
    let base = a.get("/api/v1/services/checkout").await["revision"].clone();
    let write = |base: Value, rps: u64| {
        http.patch(format!("{}/api/v1/services/checkout/values/prod", a.url()))
            .bearer_auth(&a.admin)
            .json(&json!({"base_revision": base, "set": {"throttle.rps": rps}}))
            .send()
    };

    postgres.kill();
    // An outage, not a bug: 503, and not ready.
    let refused = write(base.clone(), 555).await.expect("answers");
    assert_eq!(refused.status(), 503, "{:?}", refused.text().await);
    assert!(!ready(&b).await);
    // Reads from memory go on.
    assert_eq!(rps_on(&b).await, rps_on(&a).await);

    postgres.restart();
    eventually(
        WITHIN,
        "a write lands once the database is back",
        || async {
            write(base.clone(), 556)
                .await
                .is_ok_and(|r| r.status() == 200)
        },
    )
    .await;
    eventually(WITHIN, "the other replica follows again", || async {
        rps_on(&b).await == json!(556)
    })
    .await;
    eventually(WITHIN, "ready again", || ready(&b)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_spread_over_replicas_are_counted_together() {
    let postgres = Postgres::start();
    let replicas = three(&postgres).await;
    let http = reqwest::Client::new();
    let login = |replica: &Central, password: &str| {
        http.post(format!("{}/api/v1/session", replica.url()))
            .json(&json!({"username": "admin", "password": password}))
            .send()
    };
    // Five guesses, spread so no replica sees more than two.
    for n in 0..5 {
        let guess = login(&replicas[n % 3], "not-the-password")
            .await
            .expect("answers");
        assert_eq!(guess.status(), 401, "guess {n}");
    }
    // The sixth attempt is refused on the replica that saw one guess only —
    // even with the right password.
    let sixth = login(&replicas[2], "a-long-test-password")
        .await
        .expect("answers");
    assert_eq!(sixth.status(), 429, "{:?}", sixth.text().await);
}

/// Writers under fault: 64 clients, each patching its own service and
/// sending each write to the next replica in turn, as behind a round-robin
/// balancer.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<AtomicUsize>,
    writers: Vec<tokio::task::JoinHandle<Tally>>,
}

/// What one writer saw.
#[derive(Debug, Default)]
struct Tally {
    service: String,
    /// The revision and reason of every write answered 200.
    acknowledged: Vec<(u64, String)>,
    /// Every other status, in order.
    statuses: Vec<u16>,
}

const WRITERS: usize = 64;

impl Load {
    /// Imports the writers' services through `replicas[0]`, waits until
    /// every replica has them, and starts writing.
    async fn start(replicas: &[&Central]) -> Self {
        let services: Vec<Value> = (0..WRITERS)
            .map(|i| json!({"service": format!("load-{i}"), "schema": {"n": {"type": "int", "default": 0}}}))
            .collect();
        let http = reqwest::Client::new();
        let imported = http
            .post(format!("{}/api/v1/import", replicas[0].url()))
            .bearer_auth(&replicas[0].admin)
            .json(&json!({
                "document": {"format": "setpoint/1", "environments": [], "services": services},
                "reason": "load",
            }))
            .send()
            .await
            .expect("answers");
        assert_eq!(imported.status(), 200, "{:?}", imported.text().await);
        for replica in replicas {
            eventually(WITHIN, "every replica has the services", || async {
                replica.get("/api/v1/services/load-63").await["revision"].is_u64()
            })
            .await;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(AtomicUsize::new(0));
        let urls: Arc<Vec<String>> = Arc::new(replicas.iter().map(|r| r.url()).collect());
        let writers = (0..WRITERS)
            .map(|i| {
                let writer = Writer {
                    http: http.clone(),
                    urls: Arc::clone(&urls),
                    token: replicas[0].admin.clone(),
                    service: format!("load-{i}"),
                };
                tokio::spawn(writer.run(i, Arc::clone(&stop), Arc::clone(&acknowledged)))
            })
            .collect();
        Self {
            stop,
            acknowledged,
            writers,
        }
    }

    /// Waits until `more` writes beyond those acknowledged so far are.
    async fn progress(&self, more: usize, what: &str) {
        let target = self.acknowledged.load(Ordering::Relaxed) + more;
        eventually(WITHIN, what, || async {
            self.acknowledged.load(Ordering::Relaxed) >= target
        })
        .await;
    }

    async fn finish(self) -> Vec<Tally> {
        self.stop.store(true, Ordering::Relaxed);
        let mut tallies = Vec::new();
        for writer in self.writers {
            tallies.push(writer.await.expect("the writer ran"));
        }
        let mut statuses: Vec<u16> = tallies.iter().flat_map(|t| t.statuses.clone()).collect();
        statuses.sort_unstable();
        statuses.dedup();
        eprintln!(
            "{} writes acknowledged; also answered: {statuses:?}",
            self.acknowledged.load(Ordering::Relaxed)
        );
        tallies
    }
}

struct Writer {
    http: reqwest::Client,
    urls: Arc<Vec<String>>,
    token: String,
    service: String,
}

impl Writer {
    async fn run(
        self,
        first: usize,
        stop: Arc<AtomicBool>,
        acknowledged: Arc<AtomicUsize>,
    ) -> Tally {
        let mut tally = Tally {
            service: self.service.clone(),
            ..Tally::default()
        };
        let mut base = None;
        for n in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let url = &self.urls[(first + n) % self.urls.len()];
            let Some(revision) = base else {
                base = self.revision(url).await;
                continue;
            };
            let reason = format!("{} #{n}", self.service);
            let sent = self
                .http
                .patch(format!("{url}/api/v1/services/{}/values/dev", self.service))
                .bearer_auth(&self.token)
                .json(&json!({"base_revision": revision, "set": {"n": n}, "reason": reason}))
                .send()
                .await;
            // A replica that was killed does not answer: the next one will.
            let Ok(answer) = sent else { continue };
            let status = answer.status().as_u16();
            if status == 200 {
                let change: Value = answer.json().await.expect("a change");
                let revision = change["revision"].as_u64().expect("a revision");
                tally.acknowledged.push((revision, reason));
                acknowledged.fetch_add(1, Ordering::Relaxed);
                base = Some(revision);
                continue;
            }
            tally.statuses.push(status);
            if status == 409 {
                // A write whose answer was lost with its replica (or its
                // database connection) may have landed: start from what is.
                base = None;
            } else {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tally
    }

    async fn revision(&self, url: &str) -> Option<u64> {
        let answer = self
            .http
            .get(format!("{url}/api/v1/services/{}", self.service))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?;
        let record: Value = answer.json().await.ok()?;
        record["revision"].as_u64()
    }
}

/// Every acknowledged write is in the change log `replica` serves, under the
/// revision it was acknowledged with.
async fn all_acknowledged_writes_are_logged(replica: &Central, tallies: &[Tally]) {
    for tally in tallies {
        let page = replica
            .get(&format!(
                "/api/v1/changes?service={}&limit=500",
                tally.service
            ))
            .await;
        let logged: std::collections::HashMap<u64, &str> = page["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| {
                (
                    c["revision"].as_u64().expect("revision"),
                    c["reason"].as_str().expect("reason"),
                )
            })
            .collect();
        assert!(
            page["next_cursor"].is_null(),
            "one page holds the writes of {}",
            tally.service
        );
        for (revision, reason) in &tally.acknowledged {
            assert_eq!(
                logged.get(revision),
                Some(&reason.as_str()),
                "acknowledged as {revision}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_under_load_loses_no_acknowledged_write() {
    let postgres = Postgres::start();
    let [a, b, mut c] = three(&postgres).await;
    let load = Load::start(&[&a, &b, &c]).await;
    load.progress(300, "writes land on three replicas").await;

    c.kill();
    load.progress(300, "writes go on landing on the other two")
        .await;
    let tallies = load.finish().await;

    let statuses: Vec<u16> = tallies.iter().flat_map(|t| t.statuses.clone()).collect();
    assert!(statuses.iter().all(|s| *s == 409), "{statuses:?}");
    all_acknowledged_writes_are_logged(&a, &tallies).await;
    let verify = a.cli(&["verify"]);
    assert!(verify.status.success(), "{verify:?}");
    eventually(
        WITHIN,
        "the two replicas serve the same snapshot",
        || async {
            a.get("/api/v1/environments/dev/snapshot").await["checksum"]
                == b.get("/api/v1/environments/dev/snapshot").await["checksum"]
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_load_costs_503s_and_no_acknowledged_write() {
    let mut postgres = Postgres::start();
    let replicas = three(&postgres).await;
    let load = Load::start(&replicas.each_ref()).await;
    load.progress(300, "writes land").await;

    postgres.kill();
    eventually(WITHIN, "every replica reports not ready", || async {
        for replica in &replicas {
            if ready(replica).await {
                return false;
            }
        }
        true
    })
    .await;
    postgres.restart();
    load.progress(300, "writes land again once the database is back")
        .await;
    let tallies = load.finish().await;

    // An outage is a 503 (retry), never another 5xx.
    let statuses: Vec<u16> = tallies.iter().flat_map(|t| t.statuses.clone()).collect();
    assert!(statuses.contains(&503), "the outage was seen: {statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, 409 | 503)),
        "{statuses:?}"
    );
    all_acknowledged_writes_are_logged(&replicas[1], &tallies).await;
    let verify = replicas[0].cli(&["verify"]);
    assert!(verify.status.success(), "{verify:?}");
    for replica in &replicas {
        eventually(WITHIN, "ready again", || ready(replica)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_reporting_to_one_replica_is_in_every_replicas_fleet() {
    let postgres = Postgres::start();
    let [a, b, c] = three(&postgres).await;
    let revision = a.prod_revision().await;
    let http = reqwest::Client::new();
    let reported = http
        .post(format!("{}/api/v1/fleet/reports", a.url()))
        .bearer_auth(&a.agent)
        .json(&json!({
            "cluster": "eu-1", "namespace": "payments", "environment": "prod",
            "revision": revision,
            "sinks": [{"name": "etcd:/setpoint/prod", "ok": true, "revision": revision}],
            "version": "0.1.0", "heartbeat_secs": 10,
        }))
        .send()
        .await
        .expect("answers");
    assert_eq!(reported.status(), 200, "{:?}", reported.text().await);

    for replica in [&b, &c] {
        eventually(WITHIN, "another replica lists the cluster", || async {
            replica
                .cluster("eu-1")
                .await
                .is_some_and(|status| status["state"] == "in_sync")
        })
        .await;
    }

    // Torn down: forgotten through one replica, gone from all.
    let forgotten = http
        .delete(format!(
            "{}/api/v1/fleet/prod/eu-1?namespace=payments",
            b.url()
        ))
        .bearer_auth(&b.admin)
        .send()
        .await
        .expect("answers");
    assert_eq!(forgotten.status(), 204, "{:?}", forgotten.text().await);
    for replica in [&a, &c] {
        eventually(WITHIN, "the cluster is forgotten everywhere", || async {
            replica.cluster("eu-1").await.is_none()
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_behind_nginx_as_the_deployment_guide_configures_it() {
    let postgres = Postgres::start();
    let [a, b, mut c] = three(&postgres).await;
    let nginx = Nginx::start([&a, &b, &c]).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{}{path}", nginx.url()))
            .bearer_auth(&a.admin)
            .send()
    };
    let write = |base: u64, rps: u64| {
        http.patch(format!(
            "{}/api/v1/services/checkout/values/prod",
            nginx.url()
        ))
        .bearer_auth(&a.admin)
        .json(&json!({"base_revision": base, "set": {"throttle.rps": rps}}))
        .send()
    };
    let revision = |answer: Value| answer["revision"].as_u64().expect("a revision");

    // An event stream through nginx carries a write made through nginx as
    // it happens: nothing buffers it.
    let mut stream = get("/api/v1/events").await.expect("answers");
    assert_eq!(stream.status(), 200);
    let base = revision(a.get("/api/v1/services/checkout").await);
    let written = write(base, 4321).await.expect("answers");
    assert_eq!(written.status(), 200, "{:?}", written.text().await);
    let mut base = revision(written.json().await.expect("a change"));
    read_until(&mut stream, "4321").await;

    // Consecutive reads land on different replicas and agree once they
    // have followed.
    eventually(WITHIN, "every replica serves the write", || async {
        let mut etags = std::collections::BTreeSet::new();
        for _ in 0..6 {
            let answer = get("/api/v1/environments/prod/snapshot")
                .await
                .expect("answers");
            etags.insert(answer.headers()["etag"].to_str().expect("ascii").to_owned());
        }
        etags.len() == 1
    })
    .await;

    // A replica gone: nginx sends reads and writes to the others.
    c.kill();
    for rps in 0..12 {
        let read = get("/api/v1/environments/prod/snapshot")
            .await
            .expect("answers");
        assert_eq!(read.status(), 200);
        let written = write(base, 5000 + rps).await.expect("answers");
        assert_eq!(written.status(), 200, "{:?}", written.text().await);
        base = revision(written.json().await.expect("a change"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_alertmanager_behind_nginx_trips_a_breaker_on_every_replica() {
    let postgres = Postgres::start();
    let [a, b, c] = three(&postgres).await;
    let nginx = Nginx::start([&a, &b, &c]).await;
    let token = a.token("alertmanager", &["--role", "alert_source"]);
    let alertmanager = Alertmanager::start(&nginx.url(), &token).await;
    let alert = |ends_at: Option<String>| {
        let mut alert = json!({
            "labels": {"alertname": "ProviderErrorRate", "provider": "stripe", "environment": "prod",
                       "instance": "api-1", "severity": "page"},
            "annotations": {"summary": "Stripe errors above 5% on api-1"},
            "startsAt": "2026-01-01T00:00:00Z",
        });
        if let Some(ends_at) = ends_at {
            alert["endsAt"] = json!(ends_at);
        }
        json!([alert])
    };

    alertmanager.post(alert(None)).await;
    for replica in [&a, &b, &c] {
        eventually(WITHIN, "every replica shows the breaker open", || async {
            stripe(replica).await == "open"
        })
        .await;
    }
    alertmanager
        .post(alert(Some("2026-01-01T00:01:00Z".into())))
        .await;
    for replica in [&a, &b, &c] {
        eventually(
            WITHIN,
            "every replica shows it awaiting a person",
            || async { stripe(replica).await == "awaiting_close" },
        )
        .await;
    }
    let log = a
        .get("/api/v1/changes?service=payments-gateway&item=stripe&kind=breaker_transition")
        .await;
    let states: Vec<&Value> = log["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| &c["after"]["state"])
        .collect();
    assert_eq!(
        states,
        [&json!("awaiting_close"), &json!("open")],
        "tripped once"
    );
}

/// The state of prod's stripe breaker as `replica` shows it.
async fn stripe(replica: &Central) -> Value {
    replica
        .get("/api/v1/environments/prod/breakers")
        .await
        .as_array()
        .expect("a board")
        .iter()
        .find(|b| b["service"] == "payments-gateway" && b["breaker"] == "stripe")
        .expect("the stripe breaker")["state"]
        .clone()
}

/// Whether `replica` answers `/readyz` with 200.
async fn ready(replica: &Central) -> bool {
    reqwest::get(format!("{}/readyz", replica.url()))
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// Reads an event stream until it holds `needle`: what it read.
async fn read_until(stream: &mut reqwest::Response, needle: &str) -> String {
    let mut seen = String::new();
    let deadline = Instant::now() + WITHIN;
    while !seen.contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("the change arrives in time")
            .expect("the stream stays up")
            .expect("the stream does not end");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    seen
}

/// The two backends' migrations are written twice, once per dialect: the
/// tables, columns and indexes they make must be the same, or a store
/// moved from SQLite to PostgreSQL (docs/deployment.md) would lose data.
#[tokio::test(flavor = "multi_thread")]
async fn both_backends_migrate_to_the_same_tables_columns_and_indexes() {
    use sqlx::Connection as _;
    type Schema = std::collections::BTreeSet<(String, String)>;
    type Rows = Vec<(String, String)>;

    let postgres = Postgres::start();
    let url = postgres.migrated("compared").await;
    let mut pg = sqlx::PgConnection::connect(&url)
        .await
        .expect("PostgreSQL answers");
    let pg_columns: Rows = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
    )
    .fetch_all(&mut pg)
    .await
    .expect("columns");
    // Indexes made by CREATE INDEX, not those behind a key or constraint.
    let pg_indexes: Rows = sqlx::query_as(
        "SELECT t.relname::text, i.relname::text FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
         JOIN pg_namespace n ON n.oid = t.relnamespace \
         WHERE n.nspname = 'public' AND t.relname NOT LIKE '\\_sqlx%' \
         AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
    )
    .fetch_all(&mut pg)
    .await
    .expect("indexes");

    let data = tempfile::tempdir().expect("temp dir");
    let migrated = std::process::Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["verify", "--data"])
        .arg(data.path())
        .output()
        .expect("setpoint runs");
    assert!(migrated.status.success(), "verify: {migrated:?}");
    let mut sqlite = sqlx::SqliteConnection::connect(&format!(
        "sqlite://{}",
        data.path().join("setpoint.db").display()
    ))
    .await
    .expect("SQLite opens");
    let sqlite_columns: Rows = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
         AND m.name NOT LIKE '\\_sqlx%' ESCAPE '\\'",
    )
    .fetch_all(&mut sqlite)
    .await
    .expect("columns");
    let sqlite_indexes: Rows = sqlx::query_as(
        "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
    )
    .fetch_all(&mut sqlite)
    .await
    .expect("indexes");

    let [pg_columns, pg_indexes, sqlite_columns, sqlite_indexes] =
        [pg_columns, pg_indexes, sqlite_columns, sqlite_indexes].map(Schema::from_iter);
    assert!(
        pg_columns.len() > 30 && !pg_indexes.is_empty(),
        "the schema was read: {pg_columns:?} {pg_indexes:?}"
    );
    assert_eq!(
        pg_columns
            .symmetric_difference(&sqlite_columns)
            .collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "columns in one backend only"
    );
    assert_eq!(
        pg_indexes
            .symmetric_difference(&sqlite_indexes)
            .collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "indexes in one backend only"
    );
}
