//! Exponential backoff with jitter, for reconnects and retries.
//!
//! Jitter keeps a fleet of clients that lost the same venue at the same moment
//! from coming back in lockstep. The schedule itself comes from `backon`.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// Delay bounds: the first delay, doubling up to `max`, each with up to 100%
/// random jitter added.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Backoff {
    #[serde(with = "crate::millis")]
    pub initial: Duration,
    #[serde(with = "crate::millis")]
    pub max: Duration,
}

impl Backoff {
    pub const fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff { initial, max }
    }

    /// An endless schedule of delays; start a new one after a success.
    pub fn delays(&self) -> Delays {
        Delays(
            ExponentialBuilder::default()
                .with_min_delay(self.initial)
                .with_max_delay(self.max)
                .with_factor(2.0)
                .with_jitter()
                .without_max_times()
                .build(),
        )
    }
}

/// The delays of one run of failures.
#[derive(Debug)]
pub struct Delays(backon::ExponentialBackoff);

impl Delays {
    /// The next delay (never more than twice the configured maximum, with jitter).
    pub fn next_delay(&mut self) -> Duration {
        self.0.next().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_jitter_and_stop_growing_at_the_cap() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let mut d = b.delays();
        let mut base = 100u128;
        for _ in 0..8 {
            let x = d.next_delay().as_millis();
            assert!((base..=2 * base).contains(&x), "delay {x} ms outside [{base}, {}]", 2 * base);
            base = (base * 2).min(800);
        }
        // A new run starts over.
        let x = b.delays().next_delay().as_millis();
        assert!((100..=200).contains(&x), "{x}");
    }

    #[test]
    fn jitter_spreads_clients_apart() {
        let b = Backoff::new(Duration::from_millis(1000), Duration::from_secs(30));
        let firsts: std::collections::BTreeSet<u128> = (0..20).map(|_| b.delays().next_delay().as_millis()).collect();
        assert!(firsts.len() > 5, "20 clients should not all wait the same: {firsts:?}");
    }
}
