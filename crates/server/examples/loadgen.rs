//! Load generator for `bench/run.sh`: durable writes per second with N
//! clients, and write-to-delivery latency across N SSE watchers — and the
//! same two against etcd, the peer. Plain
//! HTTP/1.1 over keep-alive TCP, so the client costs little next to the
//! server it measures.
//!
//! ```text
//! loadgen writes ADDR TOKEN CLIENTS SECONDS SERVICE_PREFIX
//! loadgen fanout ADDR TOKEN WATCHERS WRITES SERVICE ENVIRONMENT [WRITE_ADDR]
//! loadgen etcd-puts ADDR CLIENTS SECONDS
//! loadgen etcd-fanout ADDR WATCHERS WRITES
//! loadgen agents ADDR TOKEN AGENTS WRITES SERVICE ENVIRONMENT SERVER_PID
//! loadgen agent-delivery ADDR TOKEN ETCD_ADDR AGENTS WRITES SERVICE ENVIRONMENT
//! ```
//!
//! `agents` simulates agents as central sees them: each long-polls the
//! environment's snapshot with its own token, fetches it whole and reports,
//! every cycle. `agent-delivery` watches the `meta` keys that AGENTS real
//! `setpoint agent`s write under `/bench/a<i>` in one etcd.

use std::{
    sync::{Arc, Mutex, atomic::Ordering::Relaxed},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// One keep-alive connection.
struct Client {
    stream: BufReader<TcpStream>,
    address: String,
    token: String,
}

impl Client {
    async fn connect(address: &str, token: &str) -> Result<Self, Error> {
        let stream = TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            address: address.into(),
            token: token.into(),
        })
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Error> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, _, body) = self.exchange(method, path, "", &body).await?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// One request with `extra` header lines (each ending in CRLF); the
    /// status, the headers (names lower-cased) and the body.
    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        extra: &str,
        body: &str,
    ) -> Result<(u16, Vec<(String, String)>, Vec<u8>), Error> {
        // No token, no header: etcd's gateway refuses any Authorization.
        let auth = if self.token.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {}\r\n", self.token)
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth}{extra}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        self.stream.get_mut().write_all(request.as_bytes()).await?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await?;
        let status: u16 = status_line.get(9..12).ok_or("short status line")?.parse()?;
        let mut length = 0usize;
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let name = name.to_ascii_lowercase();
                if name == "content-length" {
                    length = value.trim().parse()?;
                }
                headers.push((name, value.trim().to_owned()));
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok((status, headers, body))
    }
}

/// The nearest-rank percentile, given in per mille (990 for p99).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[(sorted.len() - 1) * per_mille.min(1000) / 1000]
}

/// CLIENTS closed-loop clients until SECONDS pass, each on its own
/// keep-alive connection: `step` makes one request and fails on a wrong
/// answer. Prints throughput and latency under `label`.
async fn closed_loop<S, F>(
    label: &str,
    address: &str,
    token: &str,
    clients: usize,
    seconds: u64,
    step: S,
) -> Result<(), Error>
where
    S: Fn(usize, u64, Client) -> F + Clone + Send + 'static,
    F: Future<Output = Result<Client, Error>> + Send,
{
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for i in 0..clients {
        let step = step.clone();
        let connecting = Client::connect(address, token);
        let mut client = connecting.await?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let started = Instant::now();
                client = step(i, n, client).await?;
                latencies.push(started.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    latencies.sort();
    println!(
        "{label}: clients={clients} total={} per_second={:.0} p50_ms={:.2} p99_ms={:.2}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        percentile(&latencies, 500).as_secs_f64() * 1e3,
        percentile(&latencies, 990).as_secs_f64() * 1e3
    );
    Ok(())
}

/// CLIENTS clients, each patching its own service as fast as it can. The
/// service's revision is tracked per client, so no write conflicts.
async fn writes(
    address: String,
    token: String,
    clients: usize,
    seconds: u64,
    prefix: String,
) -> Result<(), Error> {
    let mut bases = Vec::new();
    let mut client = Client::connect(&address, &token).await?;
    for i in 0..clients {
        let (_, record) = client
            .call("GET", &format!("/api/v1/services/{prefix}{i}"), None)
            .await?;
        let base = record["revision"].as_u64().ok_or("no such service")?;
        bases.push(Arc::new(std::sync::atomic::AtomicU64::new(base)));
    }
    let bases = Arc::new(bases);
    closed_loop(
        "writes",
        &address,
        &token,
        clients,
        seconds,
        move |i, n, mut client| {
            let (bases, path) = (
                Arc::clone(&bases),
                format!("/api/v1/services/{prefix}{i}/values/dev"),
            );
            async move {
                let base = &bases[i];
                let body = json!({"set": {"n": n}, "base_revision": base.load(Relaxed)});
                let (status, change) = client.call("PATCH", &path, Some(&body)).await?;
                if status != 200 {
                    return Err(format!("write answered {status}: {change}").into());
                }
                base.store(change["revision"].as_u64().ok_or("no revision")?, Relaxed);
                Ok(client)
            }
        },
    )
    .await
}

/// The same closed loop against etcd's JSON gateway: each client puts its
/// own key. etcd acknowledges a put once its WAL is fsynced, so this is
/// the durable-write peer.
async fn etcd_puts(address: String, clients: usize, seconds: u64) -> Result<(), Error> {
    closed_loop(
        "etcd puts",
        &address,
        "",
        clients,
        seconds,
        move |i, n, mut client| {
            let body =
                json!({"key": base64(&format!("bench/{i}")), "value": base64(&n.to_string())});
            async move {
                let (status, answer) = client.call("POST", "/v3/kv/put", Some(&body)).await?;
                if status != 200 || answer["header"]["revision"].is_null() {
                    return Err(format!("put answered {status}: {answer}").into());
                }
                Ok(client)
            }
        },
    )
    .await
}

/// The key etcd's fan-out watchers watch and its writer puts.
const ETCD_KEY: &str = "bench/fanout";

fn base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// What a fan-out run watches and writes to.
#[derive(Clone)]
enum Target {
    /// Setpoint: event streams of one environment; patches to one service's
    /// values in it.
    Setpoint {
        token: String,
        service: String,
        environment: String,
    },
    /// etcd: watches of one key through the JSON gateway (newline-delimited
    /// JSON over chunked HTTP/1.1, like an event stream); puts to that key.
    Etcd,
}

impl Target {
    fn watch_request(&self, address: &str) -> String {
        match self {
            Self::Setpoint {
                token, environment, ..
            } => format!(
                "GET /api/v1/environments/{environment}/events HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
            ),
            Self::Etcd => {
                let body = json!({"create_request": {"key": base64(ETCD_KEY)}}).to_string();
                format!(
                    "POST /v3/watch HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
            }
        }
    }

    /// Whether the watch is in place once this line is read (after the
    /// response's headers): an event stream is at once; etcd says so.
    fn watching(&self, line: &str) -> bool {
        match self {
            Self::Setpoint { .. } => true,
            Self::Etcd => line.contains("\"created\":true"),
        }
    }

    /// The revision of the change a stream line announces, if it does.
    /// A string search, not a JSON parse: the client should cost little.
    fn revision(&self, line: &str) -> Option<u64> {
        let digits = match self {
            Self::Setpoint { .. } => line.strip_prefix("id: ")?,
            Self::Etcd => {
                let at = line.find("\"mod_revision\":\"")? + "\"mod_revision\":\"".len();
                line[at..].split('"').next()?
            }
        };
        digits.trim_end().parse().ok()
    }

    fn client_token(&self) -> &str {
        match self {
            Self::Setpoint { token, .. } => token,
            Self::Etcd => "",
        }
    }

    /// Writes `n` after the revision `base` and returns the new revision.
    async fn write(&self, client: &mut Client, n: usize, base: u64) -> Result<u64, Error> {
        let (status, answer, revision) = match self {
            Self::Setpoint {
                service,
                environment,
                ..
            } => {
                let body = json!({"set": {"n": n}, "base_revision": base});
                let path = format!("/api/v1/services/{service}/values/{environment}");
                let (status, answer) = client.call("PATCH", &path, Some(&body)).await?;
                let revision = answer["revision"].as_u64();
                (status, answer, revision)
            }
            Self::Etcd => {
                let body = json!({"key": base64(ETCD_KEY), "value": base64(&n.to_string())});
                let (status, answer) = client.call("POST", "/v3/kv/put", Some(&body)).await?;
                let revision = answer["header"]["revision"]
                    .as_str()
                    .and_then(|r| r.parse().ok());
                (status, answer, revision)
            }
        };
        match revision {
            Some(revision) if status == 200 => Ok(revision),
            _ => Err(format!("write answered {status}: {answer}").into()),
        }
    }
}

/// One watcher: signals `ready` once its watch is in place, then records
/// when each of `writes` changes arrives.
async fn watch(
    address: &str,
    target: &Target,
    writes: usize,
    received: &Mutex<Vec<(u64, Instant)>>,
    ready: &tokio::sync::mpsc::Sender<()>,
) -> Result<(), Error> {
    let stream = TcpStream::connect(address).await?;
    let mut stream = BufReader::new(stream);
    stream
        .get_mut()
        .write_all(target.watch_request(address).as_bytes())
        .await?;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).await?;
        if line.trim_end().is_empty() {
            break;
        }
    }
    while !target.watching(&line) {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err("stream closed before the watch was set".into());
        }
    }
    ready.send(()).await?;
    let mut seen = 0;
    while seen < writes {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err("stream closed".into());
        }
        // Chunked framing lines interleave; revisions are what count.
        if let Some(revision) = target.revision(&line) {
            let at = Instant::now();
            received.lock().expect("lock").push((revision, at));
            seen += 1;
        }
    }
    Ok(())
}

/// WATCHERS streams; WRITES writes, 20 ms apart; for each write, the time
/// until every watcher has it.
async fn fanout(
    address: String,
    target: Target,
    watchers: usize,
    writes: usize,
    write_address: Option<String>,
) -> Result<(), Error> {
    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    for _ in 0..watchers {
        let (address, target, received, ready) = (
            address.clone(),
            target.clone(),
            Arc::clone(&received),
            ready_tx.clone(),
        );
        tasks.push(tokio::spawn(async move {
            watch(&address, &target, writes, &received, &ready).await
        }));
    }
    drop(ready_tx);
    for _ in 0..watchers {
        ready_rx.recv().await.ok_or("a watcher failed to connect")?;
    }
    let writes_to = write_address.as_deref().unwrap_or(&address);
    let mut client = Client::connect(writes_to, target.client_token()).await?;
    let mut base = match &target {
        Target::Setpoint { service, .. } => {
            let (_, record) = client
                .call("GET", &format!("/api/v1/services/{service}"), None)
                .await?;
            record["revision"].as_u64().ok_or("no such service")?
        }
        Target::Etcd => 0,
    };
    let mut sent = Vec::new();
    for n in 0..writes {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        base = target.write(&mut client, n, base).await?;
        sent.push((base, started));
    }
    for task in tasks {
        task.await??;
    }
    let received = received.lock().expect("lock").clone();
    let mut all_delivered = Vec::new();
    let mut each = Vec::new();
    for (revision, started) in &sent {
        let arrivals: Vec<Duration> = received
            .iter()
            .filter(|(r, _)| r == revision)
            .map(|(_, at)| at.duration_since(*started))
            .collect();
        if arrivals.len() != watchers {
            return Err(format!(
                "revision {revision} reached {} of {watchers} watchers",
                arrivals.len()
            )
            .into());
        }
        all_delivered.push(arrivals.iter().max().copied().unwrap_or_default());
        each.extend(arrivals);
    }
    all_delivered.sort();
    each.sort();
    let label = match target {
        Target::Setpoint { .. } => "fanout",
        Target::Etcd => "etcd fanout",
    };
    println!(
        "{label}: watchers={watchers} writes={writes} all_delivered_p50_ms={:.2} all_delivered_p99_ms={:.2} each_p99_ms={:.2}",
        percentile(&all_delivered, 500).as_secs_f64() * 1e3,
        percentile(&all_delivered, 990).as_secs_f64() * 1e3,
        percentile(&each, 990).as_secs_f64() * 1e3
    );
    Ok(())
}

/// `/proc/<pid>`: CPU seconds used so far, and resident and peak memory
/// in KiB.
fn process_usage(pid: u32) -> Result<(f64, u64, u64), Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command (which may hold spaces), 1-based from 3.
    let after = stat.rsplit_once(") ").ok_or("odd stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    // USER_HZ is 100 on Linux.
    Ok((ticks as f64 / 100.0, kib("VmRSS:"), kib("VmHWM:")))
}

/// WRITES patches of `service` in `environment`, `gap_ms` apart: each
/// write's revision and when it was sent.
async fn spaced_writes(
    client: &mut Client,
    admin: &str,
    service: &str,
    environment: &str,
    writes: usize,
    gap_ms: u64,
) -> Result<Vec<(u64, Instant)>, Error> {
    let target = Target::Setpoint {
        token: admin.to_owned(),
        service: service.to_owned(),
        environment: environment.to_owned(),
    };
    let (_, record) = client
        .call("GET", &format!("/api/v1/services/{service}"), None)
        .await?;
    let mut base = record["revision"].as_u64().ok_or("no such service")?;
    let mut sent = Vec::new();
    for n in 0..writes {
        tokio::time::sleep(Duration::from_millis(gap_ms)).await;
        let started = Instant::now();
        base = target.write(client, n, base).await?;
        sent.push((base, started));
    }
    Ok(sent)
}

/// One simulated agent: long-polls, fetches the whole snapshot, reports;
/// records when each revision arrives. Signals `ready` after its first
/// fetch.
async fn simulated_agent(
    address: String,
    token: String,
    name: String,
    environment: String,
    received: Arc<Mutex<Vec<(u64, Instant)>>>,
    ready: tokio::sync::mpsc::Sender<()>,
) -> Result<(), Error> {
    let mut client = Client::connect(&address, &token).await?;
    let mut etag = String::new();
    let mut index = 0u64;
    loop {
        let path = if index == 0 {
            format!("/api/v1/environments/{environment}/snapshot")
        } else {
            format!("/api/v1/environments/{environment}/snapshot?index={index}&wait=10s")
        };
        let extra = if etag.is_empty() {
            String::new()
        } else {
            format!("If-None-Match: {etag}\r\n")
        };
        let (status, headers, body) = client.exchange("GET", &path, &extra, "").await?;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        match status {
            200 => {
                let revision: u64 = header("x-setpoint-revision")
                    .ok_or("no revision")?
                    .parse()?;
                if body.is_empty() {
                    return Err("empty snapshot".into());
                }
                if index != 0 {
                    received
                        .lock()
                        .expect("lock")
                        .push((revision, Instant::now()));
                }
                etag = header("etag").unwrap_or_default();
                let first = index == 0;
                index = revision;
                if first {
                    ready.send(()).await?;
                }
            }
            304 => {}
            other => return Err(format!("snapshot answered {other}").into()),
        }
        let report = json!({
            "cluster": name, "environment": environment, "revision": index,
            "sinks": [{"name": "etcd:/bench", "ok": true, "revision": index}],
            "version": "bench", "heartbeat_secs": 10,
        });
        let (status, answer) = client
            .call("POST", "/api/v1/fleet/reports", Some(&report))
            .await?;
        if status != 200 {
            return Err(format!("report answered {status}: {answer}").into());
        }
    }
}

/// AGENTS simulated agents (a token each) on one central; WRITES writes,
/// 300 ms apart; for each, the time until every agent has fetched it; and
/// central's CPU and memory meanwhile.
async fn agents(
    address: String,
    admin: String,
    count: usize,
    writes: usize,
    service: String,
    environment: String,
    pid: u32,
) -> Result<(), Error> {
    let mut client = Client::connect(&address, &admin).await?;
    let mut tokens = Vec::new();
    for i in 0..count {
        let body = json!({"name": format!("bench-agent-{i}"), "role": "agent", "environment": environment});
        let (status, answer) = client.call("POST", "/api/v1/tokens", Some(&body)).await?;
        if status != 201 {
            return Err(format!("token answered {status}: {answer}").into());
        }
        tokens.push(answer["token"].as_str().ok_or("no token")?.to_owned());
    }
    let received: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(count);
    let mut tasks = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        tasks.push(tokio::spawn(simulated_agent(
            address.clone(),
            token,
            format!("sim-{i}"),
            environment.clone(),
            Arc::clone(&received),
            ready_tx.clone(),
        )));
    }
    drop(ready_tx);
    for _ in 0..count {
        ready_rx.recv().await.ok_or("an agent failed to start")?;
    }
    let (cpu_before, _, _) = process_usage(pid)?;
    let started_all = Instant::now();
    let sent = spaced_writes(&mut client, &admin, &service, &environment, writes, 300).await?;
    let last = sent.last().map_or(0, |(revision, _)| *revision);
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let done = received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(r, _)| *r == last)
            .count();
        if done == count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started_all.elapsed().as_secs_f64();
    let (cpu_after, rss, peak) = process_usage(pid)?;
    for task in &tasks {
        task.abort();
    }
    let received = received.lock().expect("lock").clone();
    let mut all_fetched = Vec::new();
    let mut missed = 0;
    for (revision, started) in &sent {
        // Writes are 300 ms apart, far more than a fetch takes: each agent
        // fetches each revision as such (the count of those it did not is
        // printed).
        let arrivals: Vec<Duration> = received
            .iter()
            .filter(|(r, at)| r == revision && *at >= *started)
            .map(|(_, at)| at.duration_since(*started))
            .collect();
        if arrivals.len() < count {
            missed += count - arrivals.len();
        }
        all_fetched.push(arrivals.iter().max().copied().unwrap_or_default());
    }
    all_fetched.sort();
    println!(
        "agents: agents={count} writes={writes} all_fetched_p50_ms={:.2} all_fetched_p99_ms={:.2} not_fetched_as_such={missed} central_cpu_percent={:.0} central_rss_mib={:.1} central_peak_rss_mib={:.1}",
        percentile(&all_fetched, 500).as_secs_f64() * 1e3,
        percentile(&all_fetched, 990).as_secs_f64() * 1e3,
        (cpu_after - cpu_before) / elapsed * 100.0,
        rss as f64 / 1024.0,
        peak as f64 / 1024.0,
    );
    Ok(())
}

/// Every `meta` put under `/bench/`: key, revision, when seen.
type Metas = Arc<Mutex<Vec<(String, u64, Instant)>>>;

/// Watches `/bench/` in etcd and records each agent's `meta` as it moves.
async fn watch_metas(
    etcd: &str,
    environment: &str,
    received: Metas,
) -> Result<tokio::task::JoinHandle<Result<(), Error>>, Error> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let stream = TcpStream::connect(etcd).await?;
    let mut stream = BufReader::new(stream);
    let body = json!({"create_request": {"key": b64.encode("/bench/"), "range_end": b64.encode("/bench0")}}).to_string();
    stream
        .get_mut()
        .write_all(
            format!(
                "POST /v3/watch HTTP/1.1\r\nHost: {etcd}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await?;
    let meta_suffix = format!("/{environment}/meta");
    Ok(tokio::spawn(async move {
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let at = Instant::now();
            let Ok(value) = serde_json::from_str::<Value>(line.trim()) else {
                continue;
            };
            for event in value["result"]["events"].as_array().into_iter().flatten() {
                let key =
                    String::from_utf8(b64.decode(event["kv"]["key"].as_str().unwrap_or(""))?)?;
                if !key.ends_with(&meta_suffix) {
                    continue;
                }
                let meta: Value = serde_json::from_slice(
                    &b64.decode(event["kv"]["value"].as_str().unwrap_or(""))?,
                )?;
                if let Some(revision) = meta["revision"].as_u64() {
                    received.lock().expect("lock").push((key, revision, at));
                }
            }
        }
    }))
}

/// AGENTS real agents write `/bench/a<i>/<env>/meta` in one etcd; WRITES
/// writes through central, 250 ms apart; for each, the time until every
/// agent's `meta` names it (the agent verified the snapshot before).
async fn agent_delivery(
    address: String,
    admin: String,
    etcd: String,
    count: usize,
    writes: usize,
    service: String,
    environment: String,
) -> Result<(), Error> {
    let received: Metas = Arc::new(Mutex::new(Vec::new()));
    let watcher = watch_metas(&etcd, &environment, Arc::clone(&received)).await?;
    let mut client = Client::connect(&address, &admin).await?;
    let sent = spaced_writes(&mut client, &admin, &service, &environment, writes, 250).await?;
    let base = sent.last().map_or(0, |(revision, _)| *revision);
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let done = received
            .lock()
            .expect("lock")
            .iter()
            .filter(|(_, r, _)| *r >= base)
            .count();
        if done >= count || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    watcher.abort();
    let received = received.lock().expect("lock").clone();
    let mut all = Vec::new();
    let mut each = Vec::new();
    let mut short = 0;
    for (revision, started) in &sent {
        // Each agent's first `meta` at or past the revision.
        let mut first: std::collections::BTreeMap<&str, Instant> =
            std::collections::BTreeMap::new();
        for (key, r, at) in &received {
            if r >= revision && at >= started {
                first
                    .entry(key.as_str())
                    .and_modify(|t| *t = (*t).min(*at))
                    .or_insert(*at);
            }
        }
        if first.len() < count {
            short += 1;
        }
        let times: Vec<Duration> = first
            .values()
            .map(|at| at.duration_since(*started))
            .collect();
        all.push(times.iter().max().copied().unwrap_or_default());
        each.extend(times);
    }
    all.sort();
    each.sort();
    println!(
        "agent delivery: agents={count} writes={writes} all_written_p50_ms={:.2} all_written_p99_ms={:.2} each_p50_ms={:.2} each_p99_ms={:.2} writes_not_reaching_all={short}",
        percentile(&all, 500).as_secs_f64() * 1e3,
        percentile(&all, 990).as_secs_f64() * 1e3,
        percentile(&each, 500).as_secs_f64() * 1e3,
        percentile(&each, 990).as_secs_f64() * 1e3,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("missing argument {i}; see the file's header"))
    };
    match args.first().map(String::as_str) {
        Some("writes") => {
            writes(
                arg(1)?,
                arg(2)?,
                arg(3)?.parse()?,
                arg(4)?.parse()?,
                arg(5)?,
            )
            .await
        }
        Some("fanout") => {
            let target = Target::Setpoint {
                token: arg(2)?,
                service: arg(5)?,
                environment: arg(6)?,
            };
            // An eighth argument sends the writes to another address (a
            // second replica): watchers then see another replica's commits.
            let writes_to = args.get(7).cloned();
            fanout(
                arg(1)?,
                target,
                arg(3)?.parse()?,
                arg(4)?.parse()?,
                writes_to,
            )
            .await
        }
        Some("etcd-puts") => etcd_puts(arg(1)?, arg(2)?.parse()?, arg(3)?.parse()?).await,
        Some("etcd-fanout") => {
            fanout(
                arg(1)?,
                Target::Etcd,
                arg(2)?.parse()?,
                arg(3)?.parse()?,
                None,
            )
            .await
        }
        Some("agents") => {
            agents(
                arg(1)?,
                arg(2)?,
                arg(3)?.parse()?,
                arg(4)?.parse()?,
                arg(5)?,
                arg(6)?,
                arg(7)?.parse()?,
            )
            .await
        }
        Some("agent-delivery") => {
            agent_delivery(
                arg(1)?,
                arg(2)?,
                arg(3)?,
                arg(4)?.parse()?,
                arg(5)?.parse()?,
                arg(6)?,
                arg(7)?,
            )
            .await
        }
        _ => {
            Err("usage: loadgen writes|etcd-puts|fanout|etcd-fanout|agents|agent-delivery …".into())
        }
    }
}
