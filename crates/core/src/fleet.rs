//! The fleet: what an agent reports it wrote, and the state central derives
//! from that report. Declared here so the server, the agent and the console
//! share one wire type and one rule for "in sync".
//!
//! A report is the agent's word about itself; central adds what only it
//! knows — the revision the cluster should run, and how long ago the report
//! arrived — and [`ClusterState::derive`] turns the two into a state.

use serde::{Deserialize, Serialize};

/// What an agent says after each write and on every heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentReport {
    /// The cluster it runs in.
    pub cluster: String,
    /// The namespace it serves; empty for a cluster-wide agent.
    #[serde(default)]
    pub namespace: String,
    /// The environment it follows.
    pub environment: String,
    /// The services it writes; `None` means every service it may read.
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// The revision of the snapshot its sinks hold, if any.
    #[serde(default)]
    pub revision: Option<u64>,
    /// That snapshot's checksum.
    #[serde(default)]
    pub checksum: Option<String>,
    /// Each sink's health.
    #[serde(default)]
    pub sinks: Vec<SinkHealth>,
    /// Why its last attempt failed; `None` when it succeeded.
    #[serde(default)]
    pub error: Option<String>,
    /// The agent's version.
    #[serde(default)]
    pub version: String,
    /// How often it reports when nothing happens, in seconds.
    pub heartbeat_secs: u64,
}

/// One sink of an agent: an etcd prefix or a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SinkHealth {
    /// `etcd` or `file`, with where: `etcd:/setpoint`, `file:/etc/setpoint`.
    pub name: String,
    /// Whether its last write (or check) succeeded.
    pub ok: bool,
    /// The revision it holds, when known.
    #[serde(default)]
    pub revision: Option<u64>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
}

/// Bounds on a report, so that an agent token cannot make central store
/// or render without limit.
pub mod limits {
    /// Longest cluster, namespace, service or sink name.
    pub const NAME: usize = 128;
    /// Longest error message kept (longer ones are cut).
    pub const ERROR: usize = 1024;
    /// Most sinks one agent reports.
    pub const SINKS: usize = 16;
    /// Most services one agent names.
    pub const SERVICES: usize = 10_000;
    /// The longest heartbeat, in seconds.
    pub const HEARTBEAT_SECS: u64 = 3600;
}

impl AgentReport {
    /// Checks the report's shape; cuts over-long error messages (an
    /// agent reports what etcd or the network said, which it does not
    /// control) rather than refusing them.
    pub fn check(&mut self) -> Result<(), String> {
        fn name(what: &str, value: &str, may_be_empty: bool) -> Result<(), String> {
            let fits = value.len() <= limits::NAME
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if fits && (may_be_empty || !value.is_empty()) {
                Ok(())
            } else {
                Err(format!(
                    "`{what}` is 1–{} letters, digits, '.', '_' or '-'",
                    limits::NAME
                ))
            }
        }
        name("cluster", &self.cluster, false)?;
        name("namespace", &self.namespace, true)?;
        name("environment", &self.environment, false)?;
        if let Some(services) = &self.services {
            if services.len() > limits::SERVICES {
                return Err(format!("at most {} services", limits::SERVICES));
            }
            for service in services {
                name("services", service, false)?;
            }
        }
        if self.sinks.len() > limits::SINKS {
            return Err(format!("at most {} sinks", limits::SINKS));
        }
        if !(1..=limits::HEARTBEAT_SECS).contains(&self.heartbeat_secs) {
            return Err(format!("`heartbeat_secs` is 1–{}", limits::HEARTBEAT_SECS));
        }
        if self
            .checksum
            .as_ref()
            .is_some_and(|c| c.len() != 64 || !c.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err("`checksum` is a hex sha256".into());
        }
        if self.version.len() > limits::NAME {
            self.version = cut(&self.version, limits::NAME);
        }
        for sink in &mut self.sinks {
            if sink.name.len() > limits::NAME {
                return Err(format!("a sink name is at most {} bytes", limits::NAME));
            }
            if let Some(error) = &mut sink.error {
                *error = cut(error, limits::ERROR);
            }
        }
        if let Some(error) = &mut self.error {
            *error = cut(error, limits::ERROR);
        }
        Ok(())
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> String {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// How a cluster stands against what it should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ClusterState {
    /// It holds the desired revision (or a later one).
    InSync,
    /// It holds an older revision than desired.
    Behind,
    /// Its last attempt failed.
    Failing,
    /// No report for three heartbeats.
    Stale,
}

impl ClusterState {
    /// Every state, in the order the fleet view lists them.
    pub const ALL: [Self; 4] = [Self::InSync, Self::Behind, Self::Failing, Self::Stale];

    /// The name used in the API and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InSync => "in_sync",
            Self::Behind => "behind",
            Self::Failing => "failing",
            Self::Stale => "stale",
        }
    }

    /// The state of a cluster whose latest report is `report`, received
    /// `age_millis` ago, when it should run `desired`. Silence outranks
    /// everything (a silent agent's last word may be long untrue), then a
    /// failure, then the revision.
    pub fn derive(report: &AgentReport, desired: u64, age_millis: i64) -> Self {
        let heartbeat_millis =
            i64::try_from(report.heartbeat_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
        if age_millis > heartbeat_millis.saturating_mul(3) {
            Self::Stale
        } else if report.error.is_some() || report.sinks.iter().any(|s| !s.ok) {
            Self::Failing
        } else if report.revision.unwrap_or(0) < desired {
            Self::Behind
        } else {
            Self::InSync
        }
    }
}

/// One cluster (or namespace) as the fleet view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterStatus {
    /// The agent's latest report.
    pub report: AgentReport,
    /// When central received it (RFC 3339).
    pub reported_at: String,
    /// The revision the cluster should run: that of the snapshot the
    /// agent's services last changed at.
    pub desired: u64,
    /// How many revisions it is behind (`desired` − written, or 0).
    pub lag: u64,
    /// The derived state.
    pub state: ClusterState,
}

impl ClusterStatus {
    /// The status of `report`, received at `reported_at` (`age_millis`
    /// ago), against `desired`.
    pub fn new(report: AgentReport, reported_at: String, desired: u64, age_millis: i64) -> Self {
        let state = ClusterState::derive(&report, desired, age_millis);
        Self {
            lag: desired.saturating_sub(report.revision.unwrap_or(0)),
            report,
            reported_at,
            desired,
            state,
        }
    }

    /// Its state at `now` (milliseconds since the epoch): the server's
    /// judgement ages — a cluster in sync when reported goes stale when
    /// its agent stops reporting.
    pub fn state_at(&self, now: i64) -> ClusterState {
        let age = crate::time::parse_timestamp(&self.reported_at).map_or(0, |at| (now - at).max(0));
        ClusterState::derive(&self.report, self.desired, age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(revision: Option<u64>) -> AgentReport {
        AgentReport {
            cluster: "eu-1".into(),
            namespace: "payments".into(),
            environment: "prod".into(),
            services: None,
            revision,
            checksum: None,
            sinks: vec![SinkHealth {
                name: "etcd:/setpoint".into(),
                ok: true,
                revision,
                error: None,
            }],
            error: None,
            version: "0.1.0".into(),
            heartbeat_secs: 10,
        }
    }

    #[test]
    fn state_follows_revision_then_failure_then_silence() {
        assert_eq!(
            ClusterState::derive(&report(Some(7)), 7, 0),
            ClusterState::InSync
        );
        assert_eq!(
            ClusterState::derive(&report(Some(8)), 7, 0),
            ClusterState::InSync,
            "ahead of a replica's view is not behind"
        );
        assert_eq!(
            ClusterState::derive(&report(Some(6)), 7, 0),
            ClusterState::Behind
        );
        assert_eq!(
            ClusterState::derive(&report(None), 1, 0),
            ClusterState::Behind,
            "nothing written yet"
        );
        let mut failing = report(Some(7));
        failing.error = Some("central: connection refused".into());
        assert_eq!(ClusterState::derive(&failing, 7, 0), ClusterState::Failing);
        let mut sink_down = report(Some(7));
        sink_down.sinks[0].ok = false;
        assert_eq!(
            ClusterState::derive(&sink_down, 7, 0),
            ClusterState::Failing
        );
        assert_eq!(
            ClusterState::derive(&failing, 7, 30_000),
            ClusterState::Failing,
            "three heartbeats is the limit, not past it"
        );
        assert_eq!(
            ClusterState::derive(&failing, 7, 30_001),
            ClusterState::Stale
        );
    }

    #[test]
    fn status_counts_the_lag() {
        let status = ClusterStatus::new(report(Some(4)), "t".into(), 9, 0);
        assert_eq!((status.lag, status.state), (5, ClusterState::Behind));
        let ahead = ClusterStatus::new(report(Some(12)), "t".into(), 9, 0);
        assert_eq!(ahead.lag, 0);
    }

    #[test]
    fn check_refuses_bad_names_and_cuts_long_errors() {
        let mut ok = report(Some(1));
        ok.error = Some("é".repeat(limits::ERROR));
        assert_eq!(ok.check(), Ok(()));
        assert!(ok.error.as_ref().is_some_and(|e| e.len() <= limits::ERROR));

        let mut bad = report(Some(1));
        bad.cluster = "eu 1".into();
        assert!(bad.check().is_err_and(|e| e.contains("cluster")));
        let mut bad = report(Some(1));
        bad.heartbeat_secs = 0;
        assert!(bad.check().is_err_and(|e| e.contains("heartbeat")));
        let mut bad = report(Some(1));
        bad.checksum = Some("zz".into());
        assert!(bad.check().is_err_and(|e| e.contains("checksum")));
        let mut bad = report(Some(1));
        bad.services = Some(vec![String::new()]);
        assert!(bad.check().is_err_and(|e| e.contains("services")));
    }
}
