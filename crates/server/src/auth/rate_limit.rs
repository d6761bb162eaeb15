//! Failed-login throttling: after 5 failures for one user name within 15
//! minutes, further attempts are refused until the window passes. Kept in
//! memory, per replica: it slows guessing, it is not an account lock.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_mins(15);

/// Counts recent failures per user name.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// `Err(seconds to wait)` when `username` has failed too often lately.
    pub fn check(&self, username: &str) -> Result<(), u64> {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(times) = failures.get_mut(username) else {
            return Ok(());
        };
        times.retain(|t| t.elapsed() < WINDOW);
        if times.len() < MAX_FAILURES {
            return Ok(());
        }
        let oldest = times.iter().min().copied().unwrap_or_else(Instant::now);
        Err(WINDOW.saturating_sub(oldest.elapsed()).as_secs().max(1))
    }

    /// Records a failure.
    pub fn failed(&self, username: &str) {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Bound memory under a spray of random names.
        if failures.len() > 10_000 {
            failures.retain(|_, times| times.iter().any(|t| t.elapsed() < WINDOW));
        }
        failures
            .entry(username.to_string())
            .or_default()
            .push(Instant::now());
    }

    /// Forgets failures after a success.
    pub fn succeeded(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_name_out() {
        let limiter = LoginLimiter::default();
        for _ in 0..5 {
            assert!(limiter.check("alice").is_ok());
            limiter.failed("alice");
        }
        assert!(limiter.check("alice").is_err());
        assert!(limiter.check("bob").is_ok(), "other names are unaffected");
        limiter.succeeded("alice");
        assert!(limiter.check("alice").is_ok());
    }
}
