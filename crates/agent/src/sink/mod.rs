//! Where the agent writes: etcd ([`etcd`]) and directories ([`file`]).
//!
//! Every sink keeps the same promise: a reader sees one whole snapshot or
//! the one before, never a mix; and a sink never goes back to an older
//! revision, whichever agent (of two sharing it) offers it.

pub mod etcd;
pub mod file;

use setpoint_core::delivery::Published;

use crate::{AgentError, verified::Verified};

/// The pointer a sink holds for `snapshot`, every part sealed at its
/// revision, written now by `cluster`/`namespace`.
pub fn published(snapshot: &Verified, cluster: &str, namespace: &str) -> Published {
    Published {
        revision: snapshot.revision,
        checksum: snapshot.checksum.clone(),
        services: snapshot
            .services
            .keys()
            .map(|name| (name.clone(), snapshot.revision))
            .collect(),
        whole: true,
        written_at: now_rfc3339(),
        cluster: cluster.to_owned(),
        namespace: namespace.to_owned(),
        agent: crate::VERSION.to_owned(),
    }
}

fn now_rfc3339() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    setpoint_core::time::format_timestamp(millis)
}

/// What a publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The snapshot is now what readers see.
    Written,
    /// The sink already held this revision or a later one (another agent
    /// wrote it); nothing changed.
    Kept(u64),
}

/// One configured sink.
#[derive(Debug)]
pub enum Sink {
    /// An etcd prefix.
    Etcd(etcd::EtcdSink),
    /// A directory.
    File(file::FileSink),
}

impl Sink {
    /// Its name in reports and metrics.
    pub fn name(&self) -> String {
        match self {
            Self::Etcd(sink) => sink.name(),
            Self::File(sink) => sink.name(),
        }
    }

    /// The revision it holds now, if it holds a whole snapshot.
    pub async fn held(&mut self) -> Result<Option<u64>, AgentError> {
        match self {
            Self::Etcd(sink) => sink.held().await,
            Self::File(sink) => sink.held(),
        }
    }

    /// Makes `snapshot` what readers see, unless the sink holds a later
    /// (or the same) revision.
    pub async fn publish(
        &mut self,
        snapshot: &Verified,
        meta: &Published,
    ) -> Result<Outcome, AgentError> {
        match self {
            Self::Etcd(sink) => sink.publish(snapshot, meta).await,
            Self::File(sink) => sink.publish(snapshot, meta).await,
        }
    }

    /// Removes what readers can no longer need (superseded etcd parts).
    pub async fn tidy(&mut self) -> Result<(), AgentError> {
        match self {
            Self::Etcd(sink) => sink.tidy().await,
            Self::File(_) => Ok(()),
        }
    }
}
