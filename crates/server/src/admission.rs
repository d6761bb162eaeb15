//! Bounds on what requests may hold or start:
//!
//! - costly work before authentication — checking a password (argon2:
//!   ~19 MiB and tens of milliseconds each) and validating a document
//!   (`POST /validate`) — runs on the blocking pool, at most a few at once;
//!   a request that finds every turn taken waits briefly and is then
//!   refused with `429 busy`, so the server stays answerable (`/healthz`,
//!   reads, writes) whatever arrives;
//! - long-lived answers — event streams and long-polls — are counted per
//!   principal (`429 busy` past its share) and in all (`503` past the cap);
//! - imports, whose bodies may be tens of megabytes, run one at a time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::{
    ApiError,
    auth::Principal,
    metrics::{Metrics, WatcherGuard},
};

/// The bounds.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Password checks at once.
    pub passwords: usize,
    /// Unauthenticated validations at once.
    pub validations: usize,
    /// How long a request waits for a turn before it is refused.
    pub queue_wait: Duration,
    /// Event streams and long-polls open at once.
    pub streams: usize,
    /// Event streams and long-polls one principal may hold open.
    pub streams_per_principal: usize,
}

impl Default for AdmissionLimits {
    /// As many password checks and validations as the machine has cores
    /// (at least two).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Self {
            passwords: cores,
            validations: cores,
            queue_wait: Duration::from_secs(2),
            streams: 8_000,
            streams_per_principal: 256,
        }
    }
}

/// The turns available to each kind of costly work, and the open streams.
#[derive(Debug)]
pub struct Admission {
    passwords: Semaphore,
    validations: Semaphore,
    imports: Semaphore,
    queue_wait: Duration,
    streams: Arc<Streams>,
}

/// Open streams, in all and by principal.
#[derive(Debug)]
struct Streams {
    limit: usize,
    per_principal: usize,
    open: Mutex<Open>,
}

/// Streams open now.
#[derive(Debug, Default)]
struct Open {
    /// In all: the sum of `by_actor`, kept so the cap is checked in O(1).
    total: usize,
    /// By the principal's actor; principals with none are absent.
    by_actor: HashMap<String, usize>,
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(AdmissionLimits::default())
    }
}

/// A stream's place, given back when it ends. It also counts the stream in
/// `setpoint_watchers`.
#[derive(Debug)]
pub struct StreamTurn {
    streams: Arc<Streams>,
    actor: String,
    _watching: WatcherGuard,
}

impl Drop for StreamTurn {
    fn drop(&mut self) {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        open.total -= 1;
        if let Some(count) = open.by_actor.get_mut(&self.actor) {
            *count -= 1;
            if *count == 0 {
                open.by_actor.remove(&self.actor);
            }
        }
    }
}

impl Admission {
    /// Admission within `limits`.
    pub fn new(limits: AdmissionLimits) -> Self {
        Self {
            passwords: Semaphore::new(limits.passwords),
            validations: Semaphore::new(limits.validations),
            imports: Semaphore::new(1),
            queue_wait: limits.queue_wait,
            streams: Arc::new(Streams {
                limit: limits.streams,
                per_principal: limits.streams_per_principal,
                open: Mutex::default(),
            }),
        }
    }

    /// A place for one more event stream or long-poll of `principal`.
    pub fn stream(
        &self,
        principal: &Principal,
        metrics: &Arc<Metrics>,
    ) -> Result<StreamTurn, ApiError> {
        let mut open = self
            .streams
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if open.total >= self.streams.limit {
            return Err(ApiError::Unavailable(
                "too many open event streams and long-polls; retry in a moment".into(),
            ));
        }
        let mine = open.by_actor.entry(principal.actor.clone()).or_default();
        if *mine >= self.streams.per_principal {
            return Err(ApiError::Busy("streams of this user or token"));
        }
        *mine += 1;
        open.total += 1;
        Ok(StreamTurn {
            streams: Arc::clone(&self.streams),
            actor: principal.actor.clone(),
            _watching: metrics.watcher(),
        })
    }

    /// Runs a password check when a turn is free.
    pub async fn check_password<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        run(&self.passwords, self.queue_wait, "logins", work).await
    }

    /// Runs a validation when a turn is free.
    pub async fn validate<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        run(&self.validations, self.queue_wait, "validations", work).await
    }

    /// The turn to read and apply an import, held until dropped: one at a
    /// time, so the memory imports may hold is bounded.
    pub async fn import(&self) -> Result<SemaphorePermit<'_>, ApiError> {
        turn(&self.imports, self.queue_wait, "imports").await
    }
}

async fn turn<'a>(
    turns: &'a Semaphore,
    wait: Duration,
    what: &'static str,
) -> Result<SemaphorePermit<'a>, ApiError> {
    tokio::time::timeout(wait, turns.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(ApiError::Busy(what))
}

async fn run<T: Send + 'static>(
    turns: &Semaphore,
    wait: Duration,
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = turn(turns, wait, what).await?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_beyond_the_turns_waits_then_is_refused_as_busy() {
        // Real time: a blocking task holds tokio's paused clock still.
        let admission = Arc::new(Admission::new(AdmissionLimits {
            passwords: 1,
            validations: 1,
            queue_wait: Duration::from_millis(50),
            ..AdmissionLimits::default()
        }));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.validate(move || held.recv().is_ok()).await }
        });
        // Let the first take its turn.
        while admission.validations.available_permits() == 1 {
            tokio::task::yield_now().await;
        }
        let second = admission.validate(|| true).await;
        assert!(
            matches!(second, Err(ApiError::Busy("validations"))),
            "{second:?}"
        );
        assert!(
            admission
                .check_password(|| true)
                .await
                .expect("its own turns"),
            "passwords have their own turns"
        );
        release.send(()).expect("release");
        assert!(first.await.expect("task").expect("ran"));
        assert!(admission.validate(|| true).await.expect("a free turn"));
    }

    #[tokio::test]
    async fn one_import_at_a_time_and_the_next_is_refused_as_busy_after_the_wait() {
        let admission = Admission::new(AdmissionLimits {
            queue_wait: Duration::from_millis(50),
            ..AdmissionLimits::default()
        });
        let first = admission.import().await.expect("a free turn");
        let second = admission.import().await;
        assert!(
            matches!(second, Err(ApiError::Busy("imports"))),
            "{second:?}"
        );
        drop(first);
        assert!(admission.import().await.is_ok(), "free again");
    }
}
