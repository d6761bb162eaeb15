//! A snapshot in a file — the agent's `<dir>/<environment>/services/
//! <service>.json`, or any sealed snapshot on a mounted volume.
//!
//! The agent replaces the file by a rename, so the directory is watched
//! (inotify through `notify`), not the file: a watch on the file would
//! follow the old inode. Events only trigger a read; a poll on a timer
//! reads as well, so a missed event, a directory that does not exist yet
//! or a file system without events (NFS, some container volumes) costs
//! at most one poll interval. A writer that rewrites the file in place
//! can be read halfway; that read is refused and counted like any bad
//! payload and the last good snapshot stays, so write by rename as the
//! agent does.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use notify::{RecursiveMode, Watcher as _};
use setpoint_core::delivery::files;
use tokio::sync::mpsc;

use super::{Feed, Running, Source};
use crate::client::MAX_PAYLOAD_BYTES;

/// Follows one file.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    poll: Duration,
}

impl FileSource {
    /// Follows the sealed snapshot in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            poll: Duration::from_secs(5),
        }
    }

    /// Follows the file an agent's `--file DIR` writes for `service`.
    pub fn agent(dir: impl AsRef<Path>, environment: &str, service: &str) -> Self {
        Self::new(
            dir.as_ref()
                .join(environment)
                .join(files::SERVICES)
                .join(files::part(service)),
        )
    }

    /// How often the file is read without an event (default 5 s).
    #[must_use]
    pub fn poll(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// Watches the file's directory, sending a wake-up on any event there.
    /// `None` when it cannot (the directory does not exist yet, or no
    /// events on this file system): polling alone then.
    fn watch(&self, wake: &mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
        let dir = self.path.parent()?;
        let wake = wake.clone();
        let mut watcher = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
            // Full means a read is already due.
            let _ = wake.try_send(());
        })
        .ok()?;
        watcher.watch(dir, RecursiveMode::NonRecursive).ok()?;
        Some(watcher)
    }

    async fn read(&self) -> Result<Option<Vec<u8>>, String> {
        let path = self.path.clone();
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
            use std::io::Read;
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut bytes = Vec::new();
            file.take(MAX_PAYLOAD_BYTES as u64 + 1)
                .read_to_end(&mut bytes)?;
            Ok(Some(bytes))
        })
        .await
        .map_err(|e| e.to_string())?;
        read.map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

impl Source for FileSource {
    fn name(&self) -> String {
        format!("file:{}", self.path.display())
    }

    fn run(self: Box<Self>, feed: Feed) -> Running {
        Box::pin(async move {
            let (wake, mut woken) = mpsc::channel(1);
            let mut watcher = None;
            let mut last: Option<Vec<u8>> = None;
            let mut failing = false;
            while !feed.closed() {
                if watcher.is_none() {
                    watcher = self.watch(&wake);
                }
                match self.read().await {
                    Ok(Some(bytes)) if last.as_ref() != Some(&bytes) => {
                        if feed.offer(&bytes).is_none() {
                            return;
                        }
                        last = Some(bytes);
                        failing = false;
                    }
                    Ok(_) => failing = false,
                    Err(error) => {
                        if !failing {
                            feed.failed(&error);
                        }
                        failing = true;
                    }
                }
                tokio::select! {
                    _ = woken.recv() => {}
                    () = tokio::time::sleep(self.poll) => {}
                }
            }
        })
    }
}
