//! `setpoint-agent`: the config service beside the pods. One agent per
//! cluster or namespace follows central's snapshot of one environment and
//! writes it, whole and verified, where the pods read it: an etcd prefix, a
//! directory, or both.
//!
//! Its rules, from the design: an event is only a trigger — the agent
//! always fetches the **whole** sealed snapshot; a snapshot whose checksum
//! does not verify, or that is older than what is written, is never
//! applied; if central cannot be reached nothing changes (config may be
//! outdated, never corrupt, never empty).
//!
//! A tour:
//! - [`args`]: the command line (`setpoint agent …`, every flag also a
//!   `SETPOINT_AGENT_*` variable).
//! - [`central`]: the client for central: long-polled snapshot fetches and
//!   fleet reports.
//! - [`verified`]: a snapshot that passed its checksum, cut to the agent's
//!   services, with each service sealed on its own.
//! - [`sink`]: where snapshots go — [`sink::etcd`] (immutable parts published
//!   by one compare-and-swap) and [`sink::file`] (write, fsync, rename).
//! - [`last_good`]: the last verified snapshot on the agent's own disk.
//! - [`backoff`]: capped exponential retry delays with jitter.
//! - [`status`]: what the agent knows about itself: reports, `/healthz`,
//!   `/metrics`.
//! - [`agent`]: the loop that ties them together.

pub mod agent;
pub mod args;
pub mod backoff;
pub mod central;
pub mod last_good;
pub mod sink;
pub mod status;
pub mod verified;

pub use agent::run;
pub use args::AgentArgs;

/// This agent's version, as reported to central.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why an attempt failed, by cause: what `/metrics` counts and the fleet
/// view shows.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// Central did not answer, or answered with an error.
    #[error("central: {0}")]
    Central(String),
    /// A snapshot failed verification; it was not written.
    #[error("refused a snapshot that does not verify: {0}")]
    Verify(String),
    /// Central served an older revision than the one written.
    #[error("refused revision {offered}: revision {written} is already written")]
    Older {
        /// What central served.
        offered: u64,
        /// What the sinks hold.
        written: u64,
    },
    /// A sink could not be written or read.
    #[error("{sink}: {message}")]
    Sink {
        /// Which sink.
        sink: String,
        /// What went wrong.
        message: String,
    },
    /// The agent's own files (its last-known-good).
    #[error("state dir: {0}")]
    State(String),
    /// The configuration makes no sense.
    #[error("{0}")]
    Config(String),
}

impl AgentError {
    /// The cause's name for metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            Self::Central(_) => "central",
            Self::Verify(_) => "verify",
            Self::Older { .. } => "older",
            Self::Sink { .. } => "sink",
            Self::State(_) => "state",
            Self::Config(_) => "config",
        }
    }
}
