//! Bounds on the costly work requests may start before they are
//! authenticated: checking a password (argon2: ~19 MiB and tens of
//! milliseconds each) and validating a document (`POST /validate`).
//!
//! Each kind runs on the blocking pool, at most a few at once; a request
//! that finds them all taken waits briefly in line and is then refused
//! with `429 busy` — the server stays answerable (`/healthz`, reads,
//! writes) whatever arrives.

use std::time::Duration;

use tokio::sync::Semaphore;

use crate::ApiError;

/// How long a request waits for a turn before it is refused.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

/// The turns available to each kind of costly work.
#[derive(Debug)]
pub struct Admission {
    passwords: Semaphore,
    validations: Semaphore,
    queue_wait: Duration,
}

impl Default for Admission {
    /// As many turns of each kind as the machine has cores (at least two).
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        Self::new(cores, cores, QUEUE_WAIT)
    }
}

impl Admission {
    /// `passwords` concurrent password checks and `validations` concurrent
    /// unauthenticated validations; a request waits at most `queue_wait`
    /// for a turn.
    pub fn new(passwords: usize, validations: usize, queue_wait: Duration) -> Self {
        Self {
            passwords: Semaphore::new(passwords),
            validations: Semaphore::new(validations),
            queue_wait,
        }
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
}

async fn run<T: Send + 'static>(
    turns: &Semaphore,
    wait: Duration,
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _turn = tokio::time::timeout(wait, turns.acquire())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or(ApiError::Busy(what))?;
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
        let admission = std::sync::Arc::new(Admission::new(1, 1, Duration::from_millis(50)));
        let (release, held) = std::sync::mpsc::channel::<()>();
        let first = tokio::spawn({
            let admission = std::sync::Arc::clone(&admission);
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
}
