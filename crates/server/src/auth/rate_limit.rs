//! Failed-login throttling: after 5 attempts without a success for one
//! user name within 15 minutes, further attempts are refused until the
//! window passes. It slows guessing, it is not an account lock. A single
//! server keeps the count here, in memory and bounded space; replicas on
//! PostgreSQL keep it in the database ([`Accounts::login_attempt`]), so
//! guesses spread over replicas are counted together.
//!
//! [`Accounts::login_attempt`]: crate::store::Accounts::login_attempt

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Attempts without a success allowed per name within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// How far back attempts count.
pub const WINDOW: Duration = Duration::from_mins(15);
/// User names tracked at once. Past it the tenth whose last attempts are
/// oldest is forgotten (at once, so a spray of invented names costs
/// bounded memory and amortized constant work per attempt).
const MAX_NAMES: usize = 10_000;
/// Longer names are tracked by their first this many bytes: nobody's name
/// is that long (users are created with at most 64), and a megabyte of
/// name must not be kept.
const MAX_NAME_BYTES: usize = 128;

/// Counts recent attempts per user name.
#[derive(Debug, Default)]
pub struct LoginLimiter {
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    /// Counts an attempt for `username` **before** its password is checked
    /// — so parallel guesses are counted too — or refuses it with the
    /// seconds to wait when the name has failed too often lately. A
    /// successful attempt is forgotten with [`LoginLimiter::succeeded`].
    pub fn attempt(&self, username: &str) -> Result<(), u64> {
        let mut attempts = self
            .attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = key(username);
        if let Some(times) = attempts.get_mut(key) {
            times.retain(|t| t.elapsed() < WINDOW);
            if times.len() >= MAX_FAILURES {
                let oldest = times.iter().min().copied().unwrap_or_else(Instant::now);
                return Err(WINDOW.saturating_sub(oldest.elapsed()).as_secs().max(1));
            }
            times.push(Instant::now());
            return Ok(());
        }
        if attempts.len() >= MAX_NAMES {
            attempts.retain(|_, times| times.iter().any(|t| t.elapsed() < WINDOW));
        }
        if attempts.len() >= MAX_NAMES {
            let mut by_age: Vec<(Option<Instant>, String)> = attempts
                .iter()
                .map(|(name, times)| (times.iter().max().copied(), name.clone()))
                .collect();
            let stale = MAX_NAMES / 10;
            by_age.select_nth_unstable(stale);
            for (_, name) in &by_age[..stale] {
                attempts.remove(name);
            }
        }
        attempts.insert(key.to_string(), vec![Instant::now()]);
        Ok(())
    }

    /// Forgets the attempts of a name after a success.
    pub fn succeeded(&self, username: &str) {
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key(username));
    }

    /// How many names are tracked.
    pub fn tracked(&self) -> usize {
        self.attempts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }
}

/// The tracked form of a name: at most [`MAX_NAME_BYTES`], cut at a
/// character boundary.
pub fn key(username: &str) -> &str {
    let mut end = username.len().min(MAX_NAME_BYTES);
    while !username.is_char_boundary(end) {
        end -= 1;
    }
    &username[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_without_success_lock_the_name_out() {
        let limiter = LoginLimiter::default();
        for _ in 0..5 {
            assert!(limiter.attempt("alice").is_ok());
        }
        assert!(limiter.attempt("alice").is_err());
        assert!(limiter.attempt("bob").is_ok(), "other names are unaffected");
        limiter.succeeded("alice");
        assert!(limiter.attempt("alice").is_ok());
    }

    #[test]
    fn memory_stays_bounded_under_a_spray_of_long_names() {
        let limiter = LoginLimiter::default();
        let long = "x".repeat(1 << 12);
        for i in 0..MAX_NAMES + 50 {
            let _ = limiter.attempt(&format!("{i}{long}"));
            let _ = limiter.attempt(&format!("{i}"));
        }
        assert!(limiter.tracked() <= MAX_NAMES);
        let last = format!("{}", MAX_NAMES + 49);
        assert!(
            limiter.attempts.lock().expect("lock").contains_key(&last),
            "the latest names are kept"
        );
        let kept: usize = limiter
            .attempts
            .lock()
            .expect("lock")
            .keys()
            .map(String::len)
            .max()
            .unwrap_or_default();
        assert!(kept <= MAX_NAME_BYTES, "{kept}");
    }
}
