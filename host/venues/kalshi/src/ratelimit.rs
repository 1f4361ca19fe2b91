//! Kalshi's read and write token buckets per usage tier, mirrored on our side
//! (through the integration layer's limiter) so we wait before sending rather
//! than collect 429s.

use arbytron_integration::ratelimit::{Budget, RateLimitError, RateLimiter};

/// Which bucket a request draws from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    Read,
    Write,
}

impl Bucket {
    /// The endpoint class name in the shared limiter (and in metrics).
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

impl RateLimits {
    /// The shared limiter for these budgets: one class per bucket.
    pub fn limiter(&self) -> Result<RateLimiter, RateLimitError> {
        let budget = |b: BucketLimit| Budget::per_second(b.refill_per_s, b.capacity);
        RateLimiter::new(
            "kalshi",
            &[(Bucket::Read.as_str(), &[budget(self.read)]), (Bucket::Write.as_str(), &[budget(self.write)])],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_basic_write_bucket_admits_ten_orders_then_makes_the_eleventh_wait() {
        let l = RateLimits::basic().limiter().unwrap();
        for _ in 0..10 {
            assert_eq!(l.try_acquire("write", COST_DEFAULT).unwrap(), Ok(()));
        }
        let wait = l.try_acquire("write", COST_DEFAULT).unwrap().unwrap_err();
        assert!(wait <= std::time::Duration::from_millis(110), "10 tokens at 100/s, 2% margin: {wait:?}");
        // Reads are a separate bucket of 400.
        for _ in 0..40 {
            assert_eq!(l.try_acquire("read", COST_DEFAULT).unwrap(), Ok(()));
        }
        assert!(l.try_acquire("read", COST_DEFAULT).unwrap().is_err());
        // A batch bigger than the bucket can never go at once.
        assert!(l.try_acquire("write", 101).is_err());
    }
}
