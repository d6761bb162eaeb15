//! Real parts for the delivery tests: etcd (Debian's `etcd-server`), the
//! `setpoint` server and agents as processes, on free loopback ports, in
//! temporary directories, stopped when dropped.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use serde_json::{Value, json};

/// A free loopback port (the listener is closed at once; the part that
/// binds it next is started right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits for `check` to hold, up to `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not in {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Running {
    /// Stops it now.
    pub fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One etcd member on loopback.
pub struct Etcd {
    process: Option<Running>,
    dir: tempfile::TempDir,
    client: u16,
    peer: u16,
    http: reqwest::Client,
}

impl Etcd {
    /// Starts a default-configured member and waits until it answers.
    pub async fn start() -> Self {
        let mut etcd = Self {
            process: None,
            dir: tempfile::tempdir().expect("temp dir"),
            client: free_port(),
            peer: free_port(),
            http: reqwest::Client::new(),
        };
        etcd.restart().await;
        etcd
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client)
    }

    /// Kills it (the data stays).
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts it again on the same data and ports.
    pub async fn restart(&mut self) {
        self.kill();
        let peer = format!("http://127.0.0.1:{}", self.peer);
        let child = Command::new("etcd")
            .arg("--name=test")
            .arg(format!(
                "--data-dir={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--listen-client-urls={}", self.url()))
            .arg(format!("--advertise-client-urls={}", self.url()))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=test={peer}"))
            .args(["--logger=zap", "--log-level=error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("etcd starts (apt-get install etcd-server)");
        self.process = Some(Running(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.range("/", None).await.is_none() {
            assert!(Instant::now() < deadline, "etcd did not answer");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn range(&self, key: &str, end: Option<&str>) -> Option<Value> {
        let mut body = json!({ "key": B64.encode(key) });
        if let Some(end) = end {
            body["range_end"] = json!(B64.encode(end));
        }
        let response = self
            .http
            .post(format!("{}/v3/kv/range", self.url()))
            .json(&body)
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// A key's value, if it exists.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        let answer = self.range(key, None).await?;
        let value = answer["kvs"].as_array()?.first()?["value"]
            .as_str()?
            .to_owned();
        B64.decode(value).ok()
    }

    /// How many keys start with `prefix`.
    pub async fn count(&self, prefix: &str) -> usize {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let end = String::from_utf8(end).expect("ascii");
        let answer = self
            .http
            .post(format!("{}/v3/kv/range", self.url()))
            .json(&json!({"key": B64.encode(prefix), "range_end": B64.encode(end), "count_only": true}))
            .send()
            .await
            .expect("etcd answers");
        let answer: Value = answer.json().await.expect("json");
        answer["count"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    /// Deletes every key (a wiped etcd).
    pub async fn wipe(&self) {
        self.http
            .post(format!("{}/v3/kv/deleterange", self.url()))
            .json(&json!({"key": B64.encode([0u8]), "range_end": B64.encode([0u8])}))
            .send()
            .await
            .expect("etcd answers");
    }

    /// `<prefix>/<env>/meta`, parsed.
    pub async fn meta(&self, environment: &str) -> Option<Value> {
        let bytes = self.get(&format!("/setpoint/{environment}/meta")).await?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The revision `meta` names, if any.
    pub async fn revision(&self, environment: &str) -> Option<u64> {
        self.meta(environment).await?["revision"].as_u64()
    }

    /// The service's sealed part that `meta` names, verified.
    pub async fn service(&self, environment: &str, service: &str) -> setpoint_core::Snapshot {
        let meta = self.meta(environment).await.expect("meta");
        let revision = meta["services"][service].as_u64().expect("named by meta");
        let bytes = self
            .get(&format!(
                "/setpoint/{environment}/services/{service}/{revision:020}"
            ))
            .await
            .expect("the service's key");
        setpoint_core::snapshot::verify(&bytes).expect("it verifies")
    }
}

/// The real `setpoint serve --demo` over a data directory, restartable on
/// the same port.
pub struct Central {
    process: Option<Running>,
    /// `--store`: a PostgreSQL URL, or `None` for SQLite under `data`.
    store: Option<String>,
    pub data: tempfile::TempDir,
    pub port: u16,
    /// An admin token.
    pub admin: String,
    /// An agent token for prod.
    pub agent: String,
    http: reqwest::Client,
}

impl Central {
    /// Creates tokens offline, then starts the server with demo data.
    pub async fn start() -> Self {
        let mut central = Self::new();
        central.restart(&["--demo"]).await;
        central
    }

    /// A data directory with tokens, the server not started.
    pub fn new() -> Self {
        Self::with_store(None)
    }

    /// Like [`Central::new`], on a PostgreSQL database.
    pub fn on_postgres(url: &str) -> Self {
        Self::with_store(Some(url.to_string()))
    }

    /// Runs `setpoint ARGS… --data … [--store …]` against this server's
    /// store: the command's output.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .args(args)
            .arg("--data")
            .arg(self.data.path())
            .args(self.store.iter().flat_map(|url| ["--store", url]))
            .output()
            .expect("setpoint runs")
    }

    /// Another replica on the same database, with the same tokens and
    /// its own port; not started.
    pub fn replica(&self) -> Self {
        Self {
            process: None,
            store: self.store.clone(),
            data: tempfile::tempdir().expect("temp dir"),
            port: free_port(),
            admin: self.admin.clone(),
            agent: self.agent.clone(),
            http: reqwest::Client::new(),
        }
    }

    fn with_store(store: Option<String>) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let store_args = |args: &[&str]| {
            let mut args: Vec<String> = args.iter().map(ToString::to_string).collect();
            args.extend(
                store
                    .iter()
                    .flat_map(|url| ["--store".to_string(), url.clone()]),
            );
            args
        };
        let admin = token(data.path(), "test-admin", &store_args(&["--role", "admin"]));
        let agent = token(
            data.path(),
            "agent-prod",
            &store_args(&["--role", "agent", "--environment", "prod"]),
        );
        Self {
            process: None,
            store,
            data,
            port: free_port(),
            admin,
            agent,
            http: reqwest::Client::new(),
        }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills it.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    /// Starts it (again) with `extra` arguments.
    pub async fn restart(&mut self, extra: &[&str]) {
        self.kill();
        let child = Command::new(env!("CARGO_BIN_EXE_setpoint"))
            .arg("serve")
            .args(extra)
            .args(["--console-dir", "/nonexistent", "--listen"])
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data")
            .arg(self.data.path())
            .args(self.store.iter().flat_map(|url| ["--store", url]))
            .env("SETPOINT_ADMIN_PASSWORD", "a-long-test-password")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the server starts");
        self.process = Some(Running(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let up = self
                .http
                .get(format!("{}/healthz", self.url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A GET as admin, as JSON.
    pub async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url()))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("central answers")
            .json()
            .await
            .expect("json")
    }

    /// The revision of prod's snapshot.
    pub async fn prod_revision(&self) -> u64 {
        self.http
            .get(format!("{}/api/v1/environments/prod/snapshot", self.url()))
            .bearer_auth(&self.admin)
            .send()
            .await
            .expect("central answers")
            .headers()["x-setpoint-revision"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("a number")
    }

    /// A token created offline, so before [`Central::restart`]: `args`
    /// follow its name (`--role viewer --environment prod`).
    pub fn token(&self, name: &str, args: &[&str]) -> String {
        let mut args: Vec<String> = args.iter().map(ToString::to_string).collect();
        args.extend(
            self.store
                .iter()
                .flat_map(|url| ["--store".to_string(), url.clone()]),
        );
        token(self.data.path(), name, &args)
    }

    /// Sets `throttle.rps` of checkout in prod.
    pub async fn set_rps(&self, rps: u64) {
        let body = json!({"set": {"throttle.rps": rps}});
        self.write("PATCH", "checkout", "/values/prod", body).await;
    }

    /// Creates or replaces flag `key` of `service`.
    pub async fn put_flag(&self, service: &str, key: &str, flag: Value) {
        let body = json!({ "flag": flag });
        self.write("PUT", service, &format!("/flags/{key}"), body)
            .await;
    }

    /// A write as admin to `/api/v1/services/{service}{rest}`, based on the
    /// service's current revision; it must succeed.
    async fn write(&self, method: &str, service: &str, rest: &str, mut body: Value) {
        body["base_revision"] =
            self.get(&format!("/api/v1/services/{service}")).await["revision"].clone();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = self
            .http
            .request(
                method,
                format!("{}/api/v1/services/{service}{rest}", self.url()),
            )
            .bearer_auth(&self.admin)
            .json(&body)
            .send()
            .await
            .expect("central answers");
        assert!(
            response.status().is_success(),
            "{:?}",
            response.text().await
        );
    }

    /// The fleet entry of `cluster`, if any.
    pub async fn cluster(&self, cluster: &str) -> Option<Value> {
        self.get("/api/v1/fleet")
            .await
            .as_array()?
            .iter()
            .find(|c| c["report"]["cluster"] == cluster)
            .cloned()
    }
}

/// `setpoint token create`, offline, before the server runs.
/// `setpoint token create NAME ARGS… --data DATA`: the bearer it prints.
fn token(data: &Path, name: &str, args: &[impl AsRef<std::ffi::OsStr>]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["token", "create", name])
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("setpoint token create runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// An agent process.
pub struct Agent {
    pub process: Running,
    /// Where it serves `/metrics`.
    pub listen: String,
}

/// Starts `setpoint agent` for prod against `server`, with fast timers, and
/// `extra` arguments.
pub fn agent(server: &str, token: &str, cluster: &str, extra: &[String]) -> Agent {
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["agent", "--environment", "prod", "--cluster", cluster])
        .args(["--server", server, "--token", token])
        .args(["--heartbeat", "1s", "--resync", "2s", "--max-backoff", "1s"])
        .args(["--etcd-grace", "1s", "--listen", &listen])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the agent starts");
    Agent {
        process: Running(child),
        listen,
    }
}

impl Agent {
    /// The agent's `/metrics`, or empty when it does not answer.
    pub async fn metrics(&self) -> String {
        match reqwest::get(format!("http://{}/metrics", self.listen)).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// How many attempts failed with `cause`.
    pub async fn failures(&self, cause: &str) -> u64 {
        let metrics = self.metrics().await;
        let prefix = format!("setpoint_agent_failures_total{{cause=\"{cause}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

/// A scratch directory path inside `dir`.
pub fn path_in(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// A PostgreSQL server of its own: Debian's binaries, `initdb -A trust` in a
/// temporary directory, a free loopback port, the socket in the same
/// directory. PostgreSQL refuses to run as root, so as root it runs as the
/// `postgres` user (through `runuser`).
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    running: bool,
    /// A database Setpoint migrated, copied by [`Postgres::migrated`].
    template: tokio::sync::OnceCell<String>,
}

impl Postgres {
    /// Initializes a cluster and starts it.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is installed (apt-get install postgresql)")
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("pg_ctl").is_file())
            .max()
            .expect("a PostgreSQL version with pg_ctl");
        let dir = tempfile::tempdir().expect("temp dir");
        if as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs");
            assert!(status.success(), "chown the data directory");
        }
        let mut postgres = Self {
            dir,
            bin,
            port: free_port(),
            running: false,
            template: tokio::sync::OnceCell::new(),
        };
        let data = postgres.data();
        let output = postgres
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .expect("initdb runs");
        assert!(output.status.success(), "initdb: {output:?}");
        postgres.restart();
        postgres
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// Starts it (again) on the same data and port, and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let output = self
            .command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.path().join("log"))
            .arg("-D")
            .arg(self.data())
            .args(["-o", &options, "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(output.status.success(), "pg_ctl start: {output:?}");
        self.running = true;
    }

    /// Stops it at once, like a crash.
    pub fn kill(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
            self.running = false;
        }
    }

    /// A new, empty database: its URL.
    pub fn database(&self, name: &str) -> String {
        let output = self
            .command("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                name,
            ])
            .output()
            .expect("createdb runs");
        assert!(output.status.success(), "createdb: {output:?}");
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

impl Postgres {
    /// A new database, already migrated (a copy of one `setpoint` migrated
    /// once): its URL. Far cheaper than [`Postgres::database`] and the
    /// migrations, for tests that need many.
    pub async fn migrated(&self, name: &str) -> String {
        use sqlx::Connection as _;
        let template = self
            .template
            .get_or_init(|| async {
                let url = self.database("migrated");
                // A process that migrates and exits: a template must have
                // no connections left when it is copied.
                let output = Command::new(env!("CARGO_BIN_EXE_setpoint"))
                    .args(["verify", "--store", &url, "--data", "/nonexistent"])
                    .output()
                    .expect("setpoint runs");
                assert!(output.status.success(), "verify: {output:?}");
                "migrated".to_string()
            })
            .await;
        let url =
            |database: &str| format!("postgres://postgres@127.0.0.1:{}/{database}", self.port);
        let mut admin = sqlx::PgConnection::connect(&url("postgres"))
            .await
            .expect("PostgreSQL answers");
        sqlx::raw_sql(&format!(
            "CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"
        ))
        .execute(&mut admin)
        .await
        .expect("the database is created");
        url(name)
    }
}

/// nginx in front of replicas, with the configuration the deployment guide
/// gives (`deploy/nginx.conf`).
pub struct Nginx {
    dir: tempfile::TempDir,
    process: Running,
    pub port: u16,
}

impl Nginx {
    /// Starts nginx on a free port in front of three replicas.
    pub async fn start(replicas: [&Central; 3]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let path = |name: &str| dir.path().join(name).display().to_string();
        let config = include_str!("../../../../deploy/nginx.conf")
            .replace("@PID@", &path("nginx.pid"))
            .replace("@LOGS@", &path(""))
            .replace("@TEMP@", &path(""))
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@REPLICA_A@", &format!("127.0.0.1:{}", replicas[0].port))
            .replace("@REPLICA_B@", &format!("127.0.0.1:{}", replicas[1].port))
            .replace("@REPLICA_C@", &format!("127.0.0.1:{}", replicas[2].port));
        std::fs::write(dir.path().join("nginx.conf"), config).expect("the config is written");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx runs (apt-get install nginx-light)");
        let nginx = Self {
            dir,
            process: Running(child),
            port,
        };
        eventually(Duration::from_secs(30), "nginx listens", || async {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        })
        .await;
        nginx
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master stops its workers on TERM; a KILL would leave them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.0.id().to_string()])
            .status();
        let _ = self.process.0.wait();
    }
}

/// A real Prometheus Alertmanager (Debian's) on loopback, delivering every
/// alert to Setpoint's webhook at `setpoint` with `token`, resolved ones
/// included, within a second or two.
pub struct Alertmanager {
    _dir: tempfile::TempDir,
    _process: Running,
    port: u16,
}

impl Alertmanager {
    pub async fn start(setpoint: &str, token: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = format!(
            "route:\n  receiver: setpoint\n  group_by: ['alertname', 'instance']\n  \
             group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: setpoint\n    webhook_configs:\n      \
             - url: {setpoint}/api/v1/hooks/alertmanager\n        send_resolved: true\n        \
             http_config:\n          authorization:\n            type: Bearer\n            \
             credentials: {token}\n"
        );
        std::fs::write(dir.path().join("alertmanager.yml"), config).expect("config written");
        let port = free_port();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // A single instance: no gossip.
            .args(["--cluster.listen-address=", "--log.level=warn"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager runs (apt-get install prometheus-alertmanager)");
        let alertmanager = Self {
            _dir: dir,
            _process: Running(child),
            port,
        };
        eventually(Duration::from_secs(30), "Alertmanager is ready", || async {
            reqwest::get(format!("http://127.0.0.1:{port}/-/ready"))
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        alertmanager
    }

    /// Posts alerts to Alertmanager's API, as Prometheus does.
    pub async fn post(&self, alerts: Value) {
        let answer = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/api/v2/alerts", self.port))
            .json(&alerts)
            .send()
            .await
            .expect("Alertmanager answers");
        assert!(answer.status().is_success(), "{:?}", answer.text().await);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.kill();
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
