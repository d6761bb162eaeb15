//! `setpoint agent`'s command line. Every flag is also a `SETPOINT_AGENT_*`
//! environment variable, which is how a Deployment configures it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::AgentError;

/// Options of `setpoint agent`.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    /// Central's base URL, e.g. `https://setpoint.example.com`.
    #[arg(long, env = "SETPOINT_AGENT_SERVER")]
    pub server: String,
    /// A token with the `agent` role for the environment.
    #[arg(long, env = "SETPOINT_AGENT_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The environment to follow.
    #[arg(long, env = "SETPOINT_AGENT_ENVIRONMENT")]
    pub environment: String,
    /// The cluster this agent runs in, as the fleet view names it.
    #[arg(long, env = "SETPOINT_AGENT_CLUSTER")]
    pub cluster: String,
    /// The namespace it serves (empty for a cluster-wide agent).
    #[arg(long, env = "SETPOINT_AGENT_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Write only these services (comma-separated); default: every service
    /// the token may read.
    #[arg(long, env = "SETPOINT_AGENT_SERVICES", value_delimiter = ',')]
    pub services: Option<Vec<String>>,
    /// etcd endpoints (comma-separated), e.g. `http://etcd:2379`.
    #[arg(long, env = "SETPOINT_AGENT_ETCD", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// The etcd key prefix.
    #[arg(long, env = "SETPOINT_AGENT_ETCD_PREFIX", default_value = setpoint_core::delivery::DEFAULT_ETCD_PREFIX)]
    pub etcd_prefix: String,
    /// How long an etcd part or snapshot no longer named stays readable.
    #[arg(long, env = "SETPOINT_AGENT_ETCD_GRACE", default_value = "60s", value_parser = duration)]
    pub etcd_grace: Duration,
    /// Also write the snapshot into this directory.
    #[arg(long, env = "SETPOINT_AGENT_FILE")]
    pub file: Option<PathBuf>,
    /// Where the agent keeps its last verified snapshot, to write back
    /// after a restart while central is away.
    #[arg(long, env = "SETPOINT_AGENT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// A full resync this often, even when nothing arrives.
    #[arg(long, env = "SETPOINT_AGENT_RESYNC", default_value = "60s", value_parser = duration)]
    pub resync: Duration,
    /// A report to central this often.
    #[arg(long, env = "SETPOINT_AGENT_HEARTBEAT", default_value = "10s", value_parser = duration)]
    pub heartbeat: Duration,
    /// The longest pause between retries.
    #[arg(long, env = "SETPOINT_AGENT_MAX_BACKOFF", default_value = "30s", value_parser = duration)]
    pub max_backoff: Duration,
    /// Serve `/healthz` and `/metrics` here.
    #[arg(long, env = "SETPOINT_AGENT_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Write once and exit: 0 when written or already current, non-zero
    /// otherwise (for a cron job).
    #[arg(long)]
    pub once: bool,
}

impl AgentArgs {
    /// Checks what clap cannot.
    pub fn check(&self) -> Result<(), AgentError> {
        if self.etcd.is_empty() && self.file.is_none() {
            return Err(AgentError::Config(
                "give at least one sink: --etcd URL[,URL…] or --file DIR".into(),
            ));
        }
        if !self.server.starts_with("http://") && !self.server.starts_with("https://") {
            return Err(AgentError::Config(format!(
                "--server must be an http:// or https:// URL, not {:?}",
                self.server
            )));
        }
        if self.heartbeat.is_zero() || self.resync.is_zero() {
            return Err(AgentError::Config(
                "--heartbeat and --resync must be longer than zero".into(),
            ));
        }
        if !self.etcd_prefix.starts_with('/') || self.etcd_prefix.ends_with('/') {
            return Err(AgentError::Config(
                "--etcd-prefix starts with '/' and does not end with one, e.g. /setpoint".into(),
            ));
        }
        Ok(())
    }
}

/// `30s`, `5m`, `250ms`: the durations the rest of Setpoint reads.
fn duration(text: &str) -> Result<Duration, String> {
    setpoint_core::time::parse_duration(text).map(Duration::from_millis)
}
