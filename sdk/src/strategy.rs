//! The trait a strategy implements, and the two things it may ask of the host.

use crate::types::Capabilities;
use crate::types::{ExitDecision, Link, Listing, LogLevel, Opportunity, Params, Position, TimestampMs};
use crate::wire::{Candidate, MarketView};

/// A trading strategy. Implement this and call [`crate::export_strategy!`].
///
/// Strategies are pure: they see only what the host passes in and their own
/// state. Given the same inputs they make the same decisions, which is what lets
/// recorded feeds replay deterministically. Every method but `init` has a
/// default, so a strategy implements what it needs and says so in
/// [`Strategy::CAPABILITIES`].
pub trait Strategy: Sized + 'static {
    /// Shown in logs and metrics; also the key of the strategy's state across reloads.
    const NAME: &'static str;
    const VERSION: &'static str;
    const CAPABILITIES: Capabilities;

    /// Build the strategy from its configuration; an `Err` is reported, never trapped.
    fn init(params: &Params) -> Result<Self, String>;

    /// Slow path: propose links between markets, with reasons for a human.
    fn match_markets(&mut self, _listings: &[Listing]) -> Result<Vec<Link>, String> {
        Ok(Vec::new())
    }

    /// Hot path: price a candidate link. Return `None` unless it is worth trading.
    fn score(&mut self, _candidate: &Candidate<'_>) -> Option<Opportunity> {
        None
    }

    /// Whether to sell a held bundle back now.
    fn decide_exit(&mut self, _position: &Position, _view: &MarketView<'_>) -> ExitDecision {
        ExitDecision::Hold
    }

    /// State to carry across a hot reload.
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Take over the state an older version's `snapshot` returned. An `Err`
    /// means the new version starts fresh; the reload still goes ahead.
    fn restore(&mut self, _state: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Log through the host (in WebAssembly) or to stderr (native builds and tests).
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::__guest::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    native::log(level, message);
}

/// The host's notion of now, in Unix milliseconds.
pub fn now() -> TimestampMs {
    #[cfg(target_arch = "wasm32")]
    return crate::__guest::now();
    #[cfg(not(target_arch = "wasm32"))]
    return native::now();
}

/// Native stand-ins for the host imports, so strategies run under `cargo test`
/// and in the host's native benchmarks.
#[cfg(not(target_arch = "wasm32"))]
pub mod native {
    use super::*;
    use std::cell::Cell;

    thread_local! {
        static NOW: Cell<TimestampMs> = const { Cell::new(0) };
        static QUIET: Cell<bool> = const { Cell::new(false) };
    }

    /// Set what [`crate::now`] returns on this thread.
    pub fn set_now(t: TimestampMs) {
        NOW.with(|n| n.set(t));
    }

    /// Silence [`crate::log`] on this thread (benchmarks).
    pub fn set_quiet(q: bool) {
        QUIET.with(|n| n.set(q));
    }

    pub(crate) fn now() -> TimestampMs {
        NOW.with(|n| n.get())
    }

    pub(crate) fn log(level: LogLevel, message: &str) {
        if !QUIET.with(|q| q.get()) {
            eprintln!("[strategy {level:?}] {message}");
        }
    }
}
