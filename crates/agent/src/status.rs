//! What the agent knows about itself: the report it sends central, and
//! its own `/healthz` and `/metrics`.

use std::{
    collections::BTreeMap,
    fmt::Write,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde_json::json;
use setpoint_core::fleet::{AgentReport, SinkHealth};

use crate::{AgentError, args::AgentArgs};

/// The agent's state, shared by its loop, its heartbeat and its HTTP
/// endpoints.
#[derive(Debug, Clone, Default)]
pub struct Status(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    /// The revision and checksum every sink holds.
    written: Option<(u64, String)>,
    sinks: BTreeMap<String, SinkHealth>,
    error: Option<String>,
    last_success: Option<SystemTime>,
    failures: BTreeMap<&'static str, u64>,
}

impl Status {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Every sink holds `revision` (checksum `checksum`).
    pub fn written(&self, revision: u64, checksum: &str) {
        self.with(|s| s.written = Some((revision, checksum.to_owned())));
    }

    /// The revision all sinks hold, if any.
    pub fn revision(&self) -> Option<u64> {
        self.with(|s| s.written.as_ref().map(|(r, _)| *r))
    }

    /// A sink's health after a write or a check.
    pub fn sink(&self, health: SinkHealth) {
        self.with(|s| s.sinks.insert(health.name.clone(), health));
    }

    /// The attempt succeeded.
    pub fn succeeded(&self) {
        self.with(|s| {
            s.error = None;
            s.last_success = Some(SystemTime::now());
        });
    }

    /// The attempt failed.
    pub fn failed(&self, error: &AgentError) {
        self.with(|s| {
            s.error = Some(error.to_string());
            *s.failures.entry(error.cause()).or_default() += 1;
        });
    }

    /// The last failure, if the last attempt failed.
    pub fn error(&self) -> Option<String> {
        self.with(|s| s.error.clone())
    }

    /// The report for central.
    pub fn report(&self, args: &AgentArgs) -> AgentReport {
        self.with(|s| AgentReport {
            cluster: args.cluster.clone(),
            namespace: args.namespace.clone(),
            environment: args.environment.clone(),
            services: args.services.clone(),
            revision: s.written.as_ref().map(|(r, _)| *r),
            checksum: s.written.as_ref().map(|(_, c)| c.clone()),
            sinks: s.sinks.values().cloned().collect(),
            error: s.error.clone(),
            version: crate::VERSION.to_owned(),
            heartbeat_secs: args.heartbeat.as_secs().max(1),
        })
    }

    /// Healthy: something verified is written, and every sink took the
    /// last write.
    fn healthy(&self) -> bool {
        self.with(|s| s.written.is_some() && s.sinks.values().all(|h| h.ok))
    }

    /// The Prometheus exposition text.
    fn metrics(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            let since_epoch = |t: SystemTime| {
                t.duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64())
            };
            let _ = writeln!(
                out,
                "# HELP setpoint_agent_written_revision The revision every sink holds.\n# TYPE setpoint_agent_written_revision gauge\nsetpoint_agent_written_revision {}",
                s.written.as_ref().map_or(0, |(r, _)| *r)
            );
            let _ = writeln!(
                out,
                "# HELP setpoint_agent_last_success_timestamp_seconds When an attempt last succeeded.\n# TYPE setpoint_agent_last_success_timestamp_seconds gauge\nsetpoint_agent_last_success_timestamp_seconds {}",
                s.last_success.map_or(0.0, since_epoch)
            );
            let _ = writeln!(
                out,
                "# HELP setpoint_agent_failures_total Failed attempts by cause.\n# TYPE setpoint_agent_failures_total counter"
            );
            for cause in ["central", "verify", "older", "sink", "state", "config"] {
                let _ = writeln!(
                    out,
                    "setpoint_agent_failures_total{{cause=\"{cause}\"}} {}",
                    s.failures.get(cause).copied().unwrap_or(0)
                );
            }
            let _ = writeln!(
                out,
                "# HELP setpoint_agent_sink_up Whether each sink took the last write.\n# TYPE setpoint_agent_sink_up gauge"
            );
            for (name, health) in &s.sinks {
                let _ = writeln!(
                    out,
                    "setpoint_agent_sink_up{{sink=\"{}\"}} {}",
                    name.replace('\\', "\\\\").replace('"', "\\\""),
                    u8::from(health.ok)
                );
            }
            out
        })
    }
}

/// Serves `/healthz` and `/metrics` on `address` until the process ends.
pub async fn serve(address: SocketAddr, status: Status) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(address = %listener.local_addr()?, "agent health and metrics");
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(status);
    axum::serve(listener, app).await
}

async fn healthz(State(status): State<Status>) -> impl IntoResponse {
    let body = Json(json!({
        "status": if status.healthy() { "ok" } else { "unhealthy" },
        "revision": status.revision(),
        "error": status.error(),
    }));
    let code = if status.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, body)
}

async fn metrics(State(status): State<Status>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        status.metrics(),
    )
}
