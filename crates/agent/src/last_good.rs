//! The last verified snapshot, kept on the agent's own disk (`--state-dir`)
//! so that an agent restarted while central is away can still fill a wiped
//! etcd. It is verified again when read: a file is no more trusted than
//! the network.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use crate::{AgentError, verified::Verified};

/// The file for one environment in a state directory.
pub fn path(dir: &Path, environment: &str) -> PathBuf {
    dir.join(format!("{environment}.snapshot.json"))
}

/// Reads and verifies the kept snapshot; `None` when there is none or it
/// does not verify (logged: the agent then waits for central).
pub fn read(dir: &Path, environment: &str, only: Option<&[String]>) -> Option<Verified> {
    let path = path(dir, environment);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return None,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot read the last-known-good snapshot");
            return None;
        }
    };
    match Verified::new(&bytes, environment, only) {
        Ok(verified) => Some(verified),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the last-known-good snapshot does not verify; ignored");
            None
        }
    }
}

/// Keeps `snapshot`: written to a temporary file, fsynced, renamed over
/// the old one, and the directory fsynced.
pub fn write(dir: &Path, snapshot: &Verified) -> Result<(), AgentError> {
    write_atomically(&path(dir, &snapshot.environment), &snapshot.json)
        .map_err(|e| AgentError::State(format!("{}: {e}", dir.display())))
}

/// Writes `bytes` to `path` so that a reader (or a crash) sees the old
/// file or the new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::File::create(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, path)?;
    std::fs::File::open(dir)?.sync_all()
}
