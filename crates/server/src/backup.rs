//! Scheduled backups: `setpoint export` documents written into a folder on
//! a schedule and after every reclaim, so that a state older than the
//! tombstone window — a service reclaimed by mistake, say — can be brought
//! back (docs/operations.md).
//!
//! Each backup is `setpoint-<unix ms>-r<revision>.json` beside a
//! `.sha256` file in `sha256sum`'s format; both are written to a temporary
//! name and renamed (the agent's `write_atomically`), the checksum last, so
//! a backup without its checksum was never finished. Names sort by time. A backup is written only when
//! the revision moved since the last one, so the ones kept are as many
//! different states.

use std::{
    io,
    path::{Path, PathBuf},
    sync::{Arc, Weak},
    time::Duration,
};

use setpoint_core::{ChangeKind, ServiceDoc};
use sha2::{Digest as _, Sha256};
use tokio::sync::broadcast::error::RecvError;

use setpoint_agent::last_good::write_atomically;

use crate::{auth::hex, engine::Engine, http::transfer::export_of};

/// Where backups go, how often, and how many are kept.
#[derive(Debug, Clone)]
pub struct Backups {
    /// The folder.
    pub dir: PathBuf,
    /// Time between scheduled backups.
    pub every: Duration,
    /// Complete backups kept; older ones are removed.
    pub keep: usize,
}

const PREFIX: &str = "setpoint-";
const CHECKSUM: &str = ".sha256";

/// Backs up on schedule and after each reclaim while the engine lives.
pub async fn run(engine: Weak<Engine>, backups: Backups) {
    let Some(mut changes) = engine.upgrade().map(|e| e.subscribe()) else {
        return;
    };
    let mut tick = tokio::time::interval(backups.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut reclaimed = Vec::new();
        tokio::select! {
            _ = tick.tick() => {}
            received = changes.recv() => match received {
                Ok(published) => {
                    // One backup for the reclaims of one batch.
                    reclaimed.extend(reclaimed_doc(&published.change));
                    while let Ok(published) = changes.try_recv() {
                        reclaimed.extend(reclaimed_doc(&published.change));
                    }
                    if reclaimed.is_empty() {
                        continue;
                    }
                }
                // Events were missed; a reclaim among them is in no backup
                // but the last one before it.
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "backups missed change events");
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        }
        let Some(engine) = engine.upgrade() else {
            return;
        };
        let (world, now) = (engine.world(), engine.now());
        drop(engine);
        let to = backups.clone();
        let written =
            tokio::task::spawn_blocking(move || back_up(&to, &world, now, &reclaimed)).await;
        match written {
            Ok(Ok(Some(path))) => tracing::info!(path = %path.display(), "backup written"),
            Ok(Ok(None)) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, dir = %backups.dir.display(), "backup failed");
            }
            Err(error) => tracing::error!(%error, "backup task failed"),
        }
    }
}

/// The document of the service `change` reclaimed, if it is a reclaim.
fn reclaimed_doc(change: &setpoint_core::Change) -> Option<ServiceDoc> {
    (change.kind == ChangeKind::ServiceReclaimed)
        .then(|| serde_json::from_value(change.before.clone()?).ok())
        .flatten()
}

/// Writes a backup of `world` — with the documents of the services just
/// `reclaimed`, so that the backup taken at a reclaim still holds them —
/// unless nothing was reclaimed and the newest backup has the world's
/// revision; then removes the oldest beyond `keep`. Returns the file
/// written.
pub fn back_up(
    backups: &Backups,
    world: &crate::world::World,
    now_millis: i64,
    reclaimed: &[ServiceDoc],
) -> io::Result<Option<PathBuf>> {
    std::fs::create_dir_all(&backups.dir)?;
    let existing = list(&backups.dir)?;
    if reclaimed.is_empty()
        && existing
            .last()
            .is_some_and(|newest| revision_of(newest) == Some(world.revision))
    {
        return Ok(None);
    }
    let mut export = export_of(world);
    for doc in reclaimed {
        if !export.services.iter().any(|s| s.service == doc.service) {
            export.services.push(doc.clone());
        }
    }
    let body = serde_json::to_vec_pretty(&export).map_err(io::Error::other)?;
    // A backup holding reclaimed services is not the state at its
    // revision: named apart, so the next scheduled one is written too.
    let marked = if reclaimed.is_empty() {
        ""
    } else {
        "-reclaimed"
    };
    let name = format!("{PREFIX}{now_millis:013}-r{}{marked}.json", world.revision);
    let path = backups.dir.join(&name);
    write_atomically(&path, &body)?;
    let sum = format!("{}  {name}\n", digest(&body));
    write_atomically(&checksum_of(&path), sum.as_bytes())?;
    let mut complete = list(&backups.dir)?;
    let excess = complete.len().saturating_sub(backups.keep.max(1));
    for old in complete.drain(..excess) {
        std::fs::remove_file(checksum_of(&old))?;
        std::fs::remove_file(&old)?;
    }
    Ok(Some(path))
}

/// The backup's contents, once its checksum is found to match.
pub fn read_verified(path: &Path) -> io::Result<Vec<u8>> {
    let body = std::fs::read(path)?;
    let sums = std::fs::read_to_string(checksum_of(path)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "{}: no checksum beside it ({e}): an unfinished backup?",
                path.display()
            ),
        )
    })?;
    let expected = sums.split_whitespace().next().unwrap_or_default();
    let actual = digest(&body);
    if expected != actual {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: checksum mismatch (sha256 {actual}, recorded {expected}): the file is damaged",
                path.display()
            ),
        ));
    }
    Ok(body)
}

/// Complete backups in `dir`, oldest first.
fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX))
                && path.extension().is_some_and(|e| e == "json")
                && checksum_of(path).is_file()
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The revision a backup holds the state at; `None` for one taken at a
/// reclaim, which holds the reclaimed services too.
fn revision_of(path: &Path) -> Option<u64> {
    let name = path.file_stem()?.to_str()?;
    if name.ends_with("-reclaimed") {
        return None;
    }
    name.rsplit_once("-r")?.1.parse().ok()
}

fn checksum_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(CHECKSUM);
    PathBuf::from(name)
}

/// The SHA-256 of `bytes`, as `sha256sum` prints it.
fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Starts backing up `engine` as `backups` says.
pub fn start(engine: &Arc<Engine>, backups: Backups) {
    tokio::spawn(run(Arc::downgrade(engine), backups));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn at(revision: u64) -> World {
        World {
            revision,
            ..World::default()
        }
    }

    fn kept(dir: &Path) -> Vec<Option<u64>> {
        list(dir)
            .expect("lists")
            .iter()
            .map(|p| revision_of(p))
            .collect()
    }

    #[test]
    fn a_backup_is_written_per_new_revision_and_the_oldest_beyond_keep_are_removed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backups = Backups {
            dir: dir.path().join("backups"),
            every: Duration::from_hours(1),
            keep: 2,
        };
        for (revision, now) in [(1, 1_000), (2, 2_000), (3, 3_000)] {
            let written = back_up(&backups, &at(revision), now, &[]).expect("writes");
            assert!(written.is_some(), "revision {revision} backed up");
        }
        assert_eq!(
            back_up(&backups, &at(3), 4_000, &[]).expect("checks"),
            None,
            "nothing changed"
        );
        assert_eq!(kept(&backups.dir), [Some(2), Some(3)]);
        let files = std::fs::read_dir(&backups.dir).expect("reads").count();
        assert_eq!(
            files, 4,
            "two backups, each with its checksum, nothing else"
        );
    }

    #[test]
    fn a_damaged_or_unfinished_backup_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let backups = Backups {
            dir: dir.path().to_path_buf(),
            every: Duration::from_hours(1),
            keep: 5,
        };
        let path = back_up(&backups, &at(7), 1_000, &[])
            .expect("writes")
            .expect("a backup");
        let body = read_verified(&path).expect("verified");
        let export: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(export["revision"], 7);

        let mut damaged = body.clone();
        damaged[0] = b' ';
        std::fs::write(&path, &damaged).expect("damages");
        let refused = read_verified(&path).expect_err("refused");
        assert_eq!(refused.kind(), io::ErrorKind::InvalidData);
        assert!(
            refused.to_string().contains("checksum mismatch"),
            "{refused}"
        );

        std::fs::remove_file(checksum_of(&path)).expect("removes");
        let refused = read_verified(&path).expect_err("refused");
        assert!(refused.to_string().contains("no checksum"), "{refused}");
        assert!(
            kept(dir.path()).is_empty(),
            "an unfinished backup is not listed"
        );
    }

    #[tokio::test]
    async fn a_reclaim_is_backed_up_at_once_not_at_the_next_turn_of_the_schedule() {
        use crate::{
            engine::{EngineConfig, ManualClock},
            store::SqliteStore,
            world::Command,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::new(1_000_000));
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("data"))
                .await
                .expect("store"),
        );
        let config = EngineConfig {
            reclaim_after: Duration::from_mins(1),
            clock: clock.clone(),
        };
        let engine = Engine::start(store, config).await.expect("engine");
        let doc = serde_json::from_str(crate::bootstrap::DEMO_SERVICES[0]).expect("a document");
        let mut create: Vec<Command> = ["dev", "staging", "prod"]
            .map(|name| Command::CreateEnvironment {
                name: name.into(),
                description: String::new(),
            })
            .into();
        create.push(Command::CreateService { doc });
        let created = engine
            .write_all(create, "user:a", "")
            .await
            .expect("created");
        let backups = Backups {
            dir: dir.path().join("backups"),
            every: Duration::from_hours(1),
            keep: 10,
        };
        start(&engine, backups.clone());
        // Waits until the newest backup's name satisfies `named`.
        let newest = |named: fn(&str, u64) -> bool, revision: u64| {
            let dir = backups.dir.clone();
            async move {
                for _ in 0..600 {
                    let found = list(&dir).ok().and_then(|all| all.last().cloned());
                    if let Some(path) = found
                        && named(&path.file_name()?.to_string_lossy(), revision)
                    {
                        return Some(path);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                None
            }
        };
        let at = created.last().expect("changes").revision;
        let first = newest(|name, at| name.ends_with(&format!("-r{at}.json")), at).await;
        assert!(first.is_some(), "the first backup, at start");

        let service = created
            .last()
            .and_then(|c| c.service.clone())
            .expect("a service");
        let service_name = service.clone();
        let base = engine.world().services[&service].revision;
        engine
            .write(Command::DeleteService { service, base }, "user:a", "")
            .await
            .expect("deleted");
        clock.advance(Duration::from_secs(61));
        engine.run_timers().await;
        let reclaimed = engine.world().revision;
        assert_eq!(reclaimed, at + 2, "deleted, then reclaimed");
        let taken = newest(
            |name, at| name.ends_with(&format!("-r{at}-reclaimed.json")),
            reclaimed,
        )
        .await
        .expect("backed up at the reclaim");
        assert_eq!(list(&backups.dir).expect("lists").len(), 2);
        // It still holds the reclaimed service, as it was.
        let body: serde_json::Value =
            serde_json::from_slice(&read_verified(&taken).expect("verified")).expect("JSON");
        let held: Vec<&str> = body["services"]
            .as_array()
            .expect("services")
            .iter()
            .filter_map(|s| s["service"].as_str())
            .collect();
        assert_eq!(held, [service_name.as_str()]);
    }
}
