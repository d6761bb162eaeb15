//! A directory of files, for pods that mount a volume rather than talk to
//! etcd. Under `DIR/<environment>/`:
//!
//! - `services/<service>.json`: each service's sealed snapshot;
//! - `snapshot.json`: the whole sealed snapshot;
//! - `meta.json`: the revision, checksum and writer, written **last**.
//!
//! Each file is written to a temporary file, fsynced and renamed, so a
//! reader sees a whole file, old or new. Services gone from the snapshot
//! are removed after `meta.json` moves on. One agent writes a directory.

use std::path::{Path, PathBuf};

use setpoint_core::delivery::{Published, files};

use super::Outcome;
use crate::{AgentError, last_good::write_atomically, verified::Verified};

/// A directory sink.
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
}

impl FileSink {
    /// Writes under `root/<environment>`.
    pub fn new(root: &Path, environment: &str) -> Self {
        Self {
            dir: root.join(environment),
        }
    }

    /// `file:<dir>`.
    pub fn name(&self) -> String {
        format!("file:{}", self.dir.display())
    }

    fn error(&self, error: impl std::fmt::Display) -> AgentError {
        AgentError::Sink {
            sink: self.name(),
            message: error.to_string(),
        }
    }

    fn meta(&self) -> Result<Option<Published>, AgentError> {
        match std::fs::read(self.dir.join(files::META)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| self.error(format!("meta.json: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    /// The revision `meta.json` names, when the snapshot it names is there.
    pub fn held(&self) -> Result<Option<u64>, AgentError> {
        let Some(meta) = self.meta()? else {
            return Ok(None);
        };
        let whole = self.dir.join(files::SNAPSHOT).is_file()
            && meta.services.keys().all(|s| {
                self.dir
                    .join(files::SERVICES)
                    .join(files::part(s))
                    .is_file()
            });
        Ok(whole.then_some(meta.revision))
    }

    /// Writes the services, the whole snapshot, then `meta.json`.
    pub async fn publish(
        &mut self,
        snapshot: &Verified,
        meta: &Published,
    ) -> Result<Outcome, AgentError> {
        let held = self.meta()?;
        if let Some(held) = held.as_ref().filter(|m| m.revision >= snapshot.revision)
            && self.held()? == Some(held.revision)
        {
            return Ok(Outcome::Kept(held.revision));
        }
        let dir = self.dir.clone();
        let snapshot = snapshot.clone();
        let meta_json = serde_json::to_vec_pretty(meta).map_err(|e| self.error(e))?;
        let stale: Vec<String> = held
            .map(|m| m.services)
            .unwrap_or_default()
            .into_keys()
            .filter(|s| !snapshot.services.contains_key(s))
            .collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            let services = dir.join(files::SERVICES);
            for name in snapshot.services.keys() {
                let json = snapshot
                    .sealed_part(name, snapshot.revision)
                    .unwrap_or_default();
                write_atomically(&services.join(files::part(name)), &json)?;
            }
            write_atomically(&dir.join(files::SNAPSHOT), &snapshot.json)?;
            write_atomically(&dir.join(files::META), &meta_json)?;
            for name in stale {
                match std::fs::remove_file(services.join(files::part(&name))) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| self.error(e))?
        .map_err(|e| self.error(e))?;
        Ok(Outcome::Written)
    }
}
