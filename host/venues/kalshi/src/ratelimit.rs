//! Kalshi's read and write token buckets, mirrored on our side so we wait
//! before sending rather than collecting 429s.
//!
//! A request reserves its tokens at once, possibly driving the bucket into
//! debt, and then sleeps until that debt would have refilled. Reservations are
//! taken in arrival order under one lock, so callers are served first come,
//! first served, and nobody is ever dropped: they wait, or (a cost larger than
//! the whole bucket) get an error straight away.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use crate::metrics;

/// Which bucket a request draws from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Read,
    Write,
}

impl Bucket {
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Read => "read",
            Bucket::Write => "write",
        }
    }
}

/// Default cost of a request, in tokens.
pub const COST_DEFAULT: u32 = 10;
/// Cost of cancelling one order.
pub const COST_CANCEL: u32 = 2;

/// One bucket's budget.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BucketLimit {
    /// Tokens added per second.
    pub refill_per_s: u32,
    /// Most tokens the bucket holds (the burst).
    pub capacity: u32,
}

/// Both buckets: an account's usage tier.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub read: BucketLimit,
    pub write: BucketLimit,
}

impl RateLimits {
    /// Basic: 200 read / 100 write tokens per second; the read bucket holds 2 s, the write bucket 1 s.
    pub const fn basic() -> RateLimits {
        RateLimits {
            read: BucketLimit { refill_per_s: 200, capacity: 400 },
            write: BucketLimit { refill_per_s: 100, capacity: 100 },
        }
    }

    /// A published tier by name (`basic`, `advanced`, `expert`, `premier`, `paragon`, `prime`, `prestige`).
    /// Write buckets above Basic hold 2 s of budget, and so do Basic and
    /// Advanced read buckets; the others hold 1 s.
    pub fn tier(name: &str) -> Option<RateLimits> {
        let (r, w) = match name.to_ascii_lowercase().as_str() {
            "basic" => return Some(RateLimits::basic()),
            "advanced" => (300, 300),
            "expert" => (600, 600),
            "premier" => (1000, 1000),
            "paragon" => (2000, 2000),
            "prime" => (4000, 4000),
            "prestige" => (6000, 8000),
            _ => return None,
        };
        let read_burst = if name.eq_ignore_ascii_case("advanced") { 2 } else { 1 };
        Some(RateLimits {
            read: BucketLimit { refill_per_s: r, capacity: r * read_burst },
            write: BucketLimit { refill_per_s: w, capacity: w * 2 },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("request costs {cost} tokens but the {bucket} bucket holds only {capacity}")]
    TooLarge { bucket: &'static str, cost: u32, capacity: u32 },
}

#[derive(Debug)]
struct State {
    /// Micro-tokens available; negative while callers wait on a debt.
    available: i64,
    last: Instant,
}

/// One token bucket.
#[derive(Debug)]
pub struct TokenBucket {
    limit: BucketLimit,
    state: Mutex<State>,
}

const MICRO: i64 = 1_000_000;

impl TokenBucket {
    pub fn new(limit: BucketLimit) -> TokenBucket {
        TokenBucket {
            limit,
            state: Mutex::new(State { available: limit.capacity as i64 * MICRO, last: Instant::now() }),
        }
    }

    pub fn limit(&self) -> BucketLimit {
        self.limit
    }

    /// Reserve `cost` tokens and return how long to wait before using them.
    pub fn reserve(&self, cost: u32) -> Result<Duration, RateLimitError> {
        self.reserve_at(cost, Instant::now())
    }

    fn reserve_at(&self, cost: u32, now: Instant) -> Result<Duration, RateLimitError> {
        if cost > self.limit.capacity {
            return Err(RateLimitError::TooLarge { bucket: "", cost, capacity: self.limit.capacity });
        }
        let rate = self.limit.refill_per_s.max(1) as i64;
        let mut s = self.state.lock();
        let elapsed = now.saturating_duration_since(s.last);
        s.last = now;
        let refill = (elapsed.as_micros() as i64).saturating_mul(rate);
        s.available = s.available.saturating_add(refill).min(self.limit.capacity as i64 * MICRO);
        s.available -= cost as i64 * MICRO;
        if s.available >= 0 {
            Ok(Duration::ZERO)
        } else {
            // Debt in micro-tokens / (tokens per second) = microseconds, rounded up.
            let debt = -s.available;
            Ok(Duration::from_micros(((debt + rate - 1) / rate) as u64))
        }
    }
}

/// Both buckets, shared by every request of one API key.
#[derive(Debug)]
pub struct RateLimiter {
    read: TokenBucket,
    write: TokenBucket,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter { read: TokenBucket::new(limits.read), write: TokenBucket::new(limits.write) }
    }

    fn bucket(&self, b: Bucket) -> &TokenBucket {
        match b {
            Bucket::Read => &self.read,
            Bucket::Write => &self.write,
        }
    }

    /// Wait until `cost` tokens of `bucket` may be spent.
    pub async fn acquire(&self, bucket: Bucket, cost: u32) -> Result<(), RateLimitError> {
        let wait = self.bucket(bucket).reserve(cost).map_err(|e| match e {
            RateLimitError::TooLarge { cost, capacity, .. } => {
                RateLimitError::TooLarge { bucket: bucket.as_str(), cost, capacity }
            }
        })?;
        if !wait.is_zero() {
            metrics::RATE_LIMIT_WAIT.with_label_values(&["kalshi", bucket.as_str()]).observe(wait.as_secs_f64());
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_rate() {
        let b = TokenBucket::new(BucketLimit { refill_per_s: 100, capacity: 100 });
        let t0 = Instant::now();
        // The full bucket admits ten 10-token requests at once...
        for _ in 0..10 {
            assert_eq!(b.reserve_at(10, t0).unwrap(), Duration::ZERO);
        }
        // ...the eleventh waits 0.1 s, the twelfth 0.2 s: 100 tokens/s.
        assert_eq!(b.reserve_at(10, t0).unwrap(), Duration::from_millis(100));
        assert_eq!(b.reserve_at(10, t0).unwrap(), Duration::from_millis(200));
        // A cancel costs 2 tokens: 0.02 s more.
        assert_eq!(b.reserve_at(COST_CANCEL, t0).unwrap(), Duration::from_millis(220));
        // After a second of refill the debt is gone.
        assert_eq!(b.reserve_at(0, t0 + Duration::from_millis(220)).unwrap(), Duration::ZERO);
    }

    #[test]
    fn refill_never_exceeds_capacity_and_oversized_requests_fail() {
        let b = TokenBucket::new(BucketLimit { refill_per_s: 100, capacity: 100 });
        let t0 = Instant::now();
        assert_eq!(b.reserve_at(100, t0 + Duration::from_secs(60)).unwrap(), Duration::ZERO);
        assert_eq!(b.reserve_at(10, t0 + Duration::from_secs(60)).unwrap(), Duration::from_millis(100));
        assert!(b.reserve_at(101, t0).is_err());
    }

    #[test]
    fn tiers() {
        assert_eq!(RateLimits::tier("Basic"), Some(RateLimits::basic()));
        assert_eq!(RateLimits::tier("prestige").unwrap().write.refill_per_s, 8000);
        // Bursts as published: 2 s for writes above Basic and Basic/Advanced reads, else 1 s.
        let adv = RateLimits::tier("advanced").unwrap();
        assert_eq!((adv.read.capacity, adv.write.capacity), (600, 600));
        let exp = RateLimits::tier("expert").unwrap();
        assert_eq!((exp.read.capacity, exp.write.capacity), (600, 1200));
        assert_eq!((RateLimits::basic().read.capacity, RateLimits::basic().write.capacity), (400, 100));
        assert_eq!(RateLimits::tier("nope"), None);
    }
}
