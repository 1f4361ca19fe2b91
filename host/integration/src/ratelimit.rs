//! Client-side rate limits per endpoint class, so we wait before sending
//! rather than collect 429s, and pause a class when the venue says so anyway.
//!
//! A venue publishes its limits per class of endpoint (Kalshi: a read and a
//! write token bucket per usage tier; Polymarket: per endpoint, as a burst per
//! 10 s and a sustained rate per 10 min). Each class here holds one
//! [`governor`] limiter per published budget, and a request waits until every
//! budget of its class allows its cost. A 429 (or 425) that arrives anyway
//! [`RateLimiter::penalize`]s the class: nothing of it is sent before the
//! venue's `Retry-After` (or our backoff) has passed.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::LazyLock;
use std::time::Duration;

use arbytron_telemetry::prometheus::{HistogramVec, IntCounterVec};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use parking_lot::Mutex;
use tokio::time::Instant;

static WAIT: LazyLock<HistogramVec> = LazyLock::new(|| {
    arbytron_telemetry::latency_histogram(
        "arbytron_rate_limit_wait_seconds",
        "Time requests waited for the client-side rate limiter, by venue and endpoint class",
        &["venue", "class"],
    )
});

static PENALTIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    arbytron_telemetry::counter_vec(
        "arbytron_rate_limit_penalties_total",
        "Times a venue answered 429/425 and an endpoint class was paused",
        &["venue", "class"],
    )
});

/// How much slower than published budgets refill on our side, in percent.
pub const SAFETY_MARGIN_PCT: u32 = 2;

/// One published budget: `count` tokens per `per`, of which `burst` may be
/// spent at once.
#[derive(Copy, Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Budget {
    pub count: u32,
    #[serde(with = "crate::millis")]
    pub per: Duration,
    pub burst: u32,
}

impl Budget {
    /// `count` tokens per second, bursts up to `burst`.
    pub const fn per_second(count: u32, burst: u32) -> Budget {
        Budget { count, per: Duration::from_secs(1), burst }
    }

    /// The budget as a governor quota, refilling [`SAFETY_MARGIN_PCT`] slower
    /// than published: the venue counts from when requests arrive, and a
    /// request that travels faster than the one before it would otherwise
    /// find the venue's bucket a hair short and get a 429.
    fn quota(&self) -> Result<Quota, RateLimitError> {
        let bad = || RateLimitError::BadBudget(*self);
        let count = NonZeroU32::new(self.count).ok_or_else(bad)?;
        let burst = NonZeroU32::new(self.burst).ok_or_else(bad)?;
        let every = self
            .per
            .checked_mul(100 + SAFETY_MARGIN_PCT)
            .and_then(|d| d.checked_div(100))
            .and_then(|d| d.checked_div(count.get()))
            .filter(|d| !d.is_zero())
            .ok_or_else(bad)?;
        Ok(Quota::with_period(every).ok_or_else(bad)?.allow_burst(burst))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("{venue} {class}: a request costing {cost} exceeds the budget's burst of {burst}")]
    TooLarge { venue: &'static str, class: &'static str, cost: u32, burst: u32 },
    #[error("{venue}: no rate-limit class {class:?}")]
    UnknownClass { venue: &'static str, class: &'static str },
    #[error("unusable rate-limit budget {0:?}: count, burst and period must be positive")]
    BadBudget(Budget),
}

struct Class {
    budgets: Vec<(Budget, DefaultDirectRateLimiter)>,
    /// Paused until then by a 429/425.
    paused_until: Mutex<Option<Instant>>,
}

/// The rate limits of one account at one venue, by endpoint class.
pub struct RateLimiter {
    venue: &'static str,
    classes: HashMap<&'static str, Class>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.classes.keys().collect();
        names.sort();
        f.debug_struct("RateLimiter").field("venue", &self.venue).field("classes", &names).finish()
    }
}

impl RateLimiter {
    /// `classes`: each endpoint class with the budgets its requests draw from.
    pub fn new(venue: &'static str, classes: &[(&'static str, &[Budget])]) -> Result<RateLimiter, RateLimitError> {
        let mut map = HashMap::new();
        for (name, budgets) in classes {
            let limiters = budgets
                .iter()
                .map(|b| Ok((*b, governor::RateLimiter::direct(b.quota()?))))
                .collect::<Result<Vec<_>, RateLimitError>>()?;
            map.insert(*name, Class { budgets: limiters, paused_until: Mutex::new(None) });
        }
        Ok(RateLimiter { venue, classes: map })
    }

    fn class(&self, class: &'static str) -> Result<&Class, RateLimitError> {
        self.classes.get(class).ok_or(RateLimitError::UnknownClass { venue: self.venue, class })
    }

    fn check_cost(&self, c: &Class, class: &'static str, cost: u32) -> Result<NonZeroU32, RateLimitError> {
        for (b, _) in &c.budgets {
            if cost > b.burst {
                return Err(RateLimitError::TooLarge { venue: self.venue, class, cost, burst: b.burst });
            }
        }
        // A zero cost still has to wait out a pause; it takes no tokens.
        Ok(NonZeroU32::new(cost).unwrap_or(NonZeroU32::MIN))
    }

    /// Wait until `cost` tokens of `class` may be spent, and spend them.
    pub async fn acquire(&self, class: &'static str, cost: u32) -> Result<(), RateLimitError> {
        let c = self.class(class)?;
        let n = self.check_cost(c, class, cost)?;
        let started = Instant::now();
        loop {
            let paused = *c.paused_until.lock();
            match paused {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if cost > 0 {
            for (_, limiter) in &c.budgets {
                limiter.until_n_ready(n).await.map_err(|_| RateLimitError::TooLarge {
                    venue: self.venue,
                    class,
                    cost,
                    burst: 0,
                })?;
            }
        }
        let waited = started.elapsed();
        if !waited.is_zero() {
            WAIT.with_label_values(&[self.venue, class]).observe(waited.as_secs_f64());
        }
        Ok(())
    }

    /// Spend `cost` tokens of `class` now if every budget allows it; otherwise
    /// say how long until it would. With several budgets, tokens an earlier
    /// budget gave are not returned when a later one refuses: the error is on
    /// the side of sending less.
    pub fn try_acquire(&self, class: &'static str, cost: u32) -> Result<Result<(), Duration>, RateLimitError> {
        let c = self.class(class)?;
        let n = self.check_cost(c, class, cost)?;
        if let Some(until) = *c.paused_until.lock() {
            let now = Instant::now();
            if until > now {
                return Ok(Err(until - now));
            }
        }
        if cost == 0 {
            return Ok(Ok(()));
        }
        let clock = DefaultClock::default();
        for (_, limiter) in &c.budgets {
            match limiter.check_n(n) {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Ok(Err(wait.wait_time_from(clock.now()))),
                Err(_) => return Err(RateLimitError::TooLarge { venue: self.venue, class, cost, burst: 0 }),
            }
        }
        Ok(Ok(()))
    }

    /// The venue refused for rate (429) or asked us to wait (425): send nothing
    /// of `class` for `pause`. A longer pause already in force is kept.
    pub fn penalize(&self, class: &'static str, pause: Duration) {
        let Ok(c) = self.class(class) else {
            tracing::warn!(venue = self.venue, class, "penalty for an unknown rate-limit class");
            return;
        };
        PENALTIES.with_label_values(&[self.venue, class]).inc();
        let until = Instant::now() + pause;
        let mut p = c.paused_until.lock();
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
        tracing::warn!(
            venue = self.venue,
            class,
            pause_ms = pause.as_millis() as u64,
            "rate limited by the venue; pausing the class"
        );
    }

    /// The budgets of a class, as configured.
    pub fn budgets(&self, class: &'static str) -> Option<Vec<Budget>> {
        self.classes.get(class).map(|c| c.budgets.iter().map(|(b, _)| *b).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slow budgets (one token per 10 s) so a test never races the refill.
    fn slow(burst: u32) -> Budget {
        Budget { count: 1, per: Duration::from_secs(10), burst }
    }

    #[test]
    fn a_class_allows_its_burst_then_refuses_with_the_wait() {
        let l = RateLimiter::new("test", &[("write", &[slow(3)])]).unwrap();
        for _ in 0..3 {
            assert_eq!(l.try_acquire("write", 1).unwrap(), Ok(()));
        }
        let wait = l.try_acquire("write", 1).unwrap().unwrap_err();
        assert!(
            wait > Duration::from_secs(5) && wait <= Duration::from_millis(10_200),
            "one token per 10 s, 2% margin: {wait:?}"
        );
    }

    #[test]
    fn costs_draw_several_tokens_and_oversized_ones_fail_at_once() {
        let l = RateLimiter::new("test", &[("read", &[slow(20)])]).unwrap();
        assert_eq!(l.try_acquire("read", 10).unwrap(), Ok(()));
        assert_eq!(l.try_acquire("read", 10).unwrap(), Ok(()));
        assert!(l.try_acquire("read", 2).unwrap().is_err(), "20 tokens spent");
        assert!(matches!(l.try_acquire("read", 21), Err(RateLimitError::TooLarge { cost: 21, burst: 20, .. })));
        assert!(matches!(l.try_acquire("nope", 1), Err(RateLimitError::UnknownClass { .. })));
    }

    #[test]
    fn classes_are_independent_and_every_budget_of_a_class_counts() {
        let l = RateLimiter::new("test", &[("a", &[slow(1)]), ("b", &[slow(5), slow(2)])]).unwrap();
        assert_eq!(l.try_acquire("a", 1).unwrap(), Ok(()));
        assert!(l.try_acquire("a", 1).unwrap().is_err());
        // b's second budget (burst 2) binds before its first (burst 5).
        assert_eq!(l.try_acquire("b", 1).unwrap(), Ok(()));
        assert_eq!(l.try_acquire("b", 1).unwrap(), Ok(()));
        assert!(l.try_acquire("b", 1).unwrap().is_err());
    }

    #[test]
    fn bad_budgets_are_refused() {
        for b in [Budget { count: 0, per: Duration::from_secs(1), burst: 1 }, Budget::per_second(1, 0)] {
            assert!(matches!(RateLimiter::new("test", &[("x", &[b])]), Err(RateLimitError::BadBudget(_))));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_penalty_pauses_the_class_until_it_has_passed() {
        let l = RateLimiter::new("test", &[("orders", &[Budget::per_second(1000, 1000)])]).unwrap();
        l.penalize("orders", Duration::from_secs(7));
        let wait = l.try_acquire("orders", 1).unwrap().unwrap_err();
        assert!(wait > Duration::from_secs(6), "{wait:?}");
        // A shorter penalty does not shorten it.
        l.penalize("orders", Duration::from_secs(1));
        assert!(l.try_acquire("orders", 1).unwrap().unwrap_err() > Duration::from_secs(6));
        let started = Instant::now();
        l.acquire("orders", 1).await.unwrap();
        assert!(started.elapsed() >= Duration::from_secs(7), "acquire waited out the pause (paused clock)");
        assert_eq!(l.try_acquire("orders", 1).unwrap(), Ok(()));
    }
}
