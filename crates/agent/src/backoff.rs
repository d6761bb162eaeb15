//! Retry delays: exponential from a base, capped, with jitter — so that a
//! thousand agents cut off by the same outage do not return in step.

use std::time::Duration;

/// The delays of one run of failures; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    failures: u32,
    rng: u64,
}

impl Backoff {
    /// Delays from `base` doubling up to `cap`, jittered by `seed`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
            rng: seed,
        }
    }

    /// Seeded from the operating system's random source.
    pub fn random(base: Duration, cap: Duration) -> Self {
        let mut seed = [0u8; 8];
        // A fixed seed only loses the spread between agents, not safety.
        let _ = getrandom::fill(&mut seed);
        Self::new(base, cap, u64::from_le_bytes(seed))
    }

    /// The pause before the next attempt: between half and all of
    /// `base · 2^failures`, at most `cap`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1 << self.failures.min(20))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from(half.as_micros()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            self.next_random() % spread
        };
        half + Duration::from_micros(jitter)
    }

    /// After a success: the next failure starts from `base` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(2);
        let mut backoff = Backoff::new(base, cap, 42);
        let mut ceiling = base;
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= ceiling / 2 && delay <= ceiling,
                "{delay:?} within [{:?}, {ceiling:?}]",
                ceiling / 2
            );
            ceiling = (ceiling * 2).min(cap);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn agents_with_different_seeds_spread_out() {
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|seed| {
                Backoff::new(Duration::from_secs(1), Duration::from_secs(30), seed).next_delay()
            })
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
