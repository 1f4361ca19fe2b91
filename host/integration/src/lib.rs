//! Venue plumbing, written once.
//!
//! Every venue connector (Kalshi, Polymarket, the AMM's RPC reader) and the
//! simulators' clients are built from these parts, so a connector is only what
//! is particular to its venue (wire formats, signing, book rules), and a fix to
//! reconnecting or rate limiting is made in one place:
//!
//! - [`ws`]: a WebSocket that reconnects with backoff, keeps alive, detects
//!   silence, and hands frames to a venue [`ws::Handler`];
//! - [`watchdog`]: per-subscription staleness bounds learned from activity;
//! - [`ratelimit`]: per-endpoint-class budgets (governor) paused by 429/425;
//! - [`http`]: the one HTTP client setup, `Retry-After`, and the retry loop;
//! - [`backoff`]: exponential backoff with jitter;
//! - [`clock`]: system, manual and replay time behind one trait;
//! - [`secret`]: zeroised, never-printed secrets and where they come from;
//! - [`redact`]: URLs and headers made safe to log.

pub mod backoff;
pub mod clock;
pub mod http;
pub mod ratelimit;
pub mod redact;
pub mod secret;
#[cfg(feature = "testing")]
pub mod testing;
pub mod watchdog;
pub mod ws;

pub use backoff::Backoff;
pub use clock::{Clock, ManualClock, SharedClock, SystemClock, TimestampMs, now_ms, now_us};
pub use secret::{Secret, SecretError, SecretSource};

/// Serde for durations as whole milliseconds (config files say `..._ms`).
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
