//! Time, behind a trait: the system clock in service, a manual clock in tests,
//! a replay clock when recorded feeds are played back.
//!
//! Everything that stamps or ages data asks a [`Clock`] rather than the OS, so
//! a replay sees exactly the times that were recorded and a test can move time
//! by hand instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix milliseconds.
pub type TimestampMs = i64;

/// A source of wall-clock time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Unix milliseconds now.
    fn now_ms(&self) -> TimestampMs;

    /// Unix microseconds now (latency stamps); millisecond clocks scale up.
    fn now_us(&self) -> i64 {
        self.now_ms().saturating_mul(1000)
    }
}

/// A clock shared across tasks.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Copy, Clone, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> TimestampMs {
        now_ms()
    }

    fn now_us(&self) -> i64 {
        now_us()
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// Unix milliseconds from the system clock (0 if it is set before 1970).
///
/// The one direct reading of the OS clock; code that may run under replay
/// takes a [`Clock`] instead.
pub fn now_ms() -> TimestampMs {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix microseconds from the system clock (latency stamps across processes).
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A clock that moves only when told to: for tests, and for replays, which
/// set it to each recorded event's time before handing the event on.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: TimestampMs) -> Arc<ManualClock> {
        Arc::new(ManualClock { now_ms: AtomicI64::new(start_ms) })
    }

    /// Jump to `ms`. Time may be set backwards (a test's choice); a replay only moves forward.
    pub fn set(&self, ms: TimestampMs) {
        self.now_ms.store(ms, Ordering::SeqCst);
    }

    /// Move forward by `ms` and return the new time.
    pub fn advance(&self, ms: i64) -> TimestampMs {
        self.now_ms.fetch_add(ms, Ordering::SeqCst).saturating_add(ms)
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> TimestampMs {
        self.now_ms.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_is_after_2020_and_agrees_with_itself() {
        let c = SystemClock;
        let (a, b) = (c.now_ms(), now_ms());
        assert!(a > 1_577_836_800_000, "{a}");
        assert!((b - a).abs() < 60_000);
        assert!(c.now_us() / 1000 >= a);
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        assert_eq!(c.advance(250), 1_250);
        assert_eq!(c.now_ms(), 1_250);
        assert_eq!(c.now_us(), 1_250_000);
        c.set(5);
        assert_eq!(c.now_ms(), 5);
        let shared: SharedClock = c;
        assert_eq!(shared.now_ms(), 5);
    }
}
