//! Process-wide controls: the kill switch and the trading core's status hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

/// Shared between the admin API, signal handlers and the engine.
#[derive(Default)]
pub struct Control {
    killed: Arc<AtomicBool>,
    status: RwLock<Option<Box<dyn Fn() -> serde_json::Value + Send + Sync>>>,
}

impl Control {
    /// Stop all new trades (exits and reconciliation continue).
    pub fn kill(&self, by: &str) {
        if !self.killed.swap(true, Ordering::SeqCst) {
            tracing::warn!(by, "kill switch engaged: no new trades");
        }
    }

    pub fn resume(&self, by: &str) {
        if self.killed.swap(false, Ordering::SeqCst) {
            tracing::warn!(by, "kill switch released");
        }
    }

    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::SeqCst)
    }

    /// The flag itself, for the engine's risk checks (read on every update).
    pub fn kill_flag(&self) -> Arc<AtomicBool> {
        self.killed.clone()
    }

    /// Let the trading core report its state on `/status`.
    pub fn set_status_source(&self, f: impl Fn() -> serde_json::Value + Send + Sync + 'static) {
        *self.status.write() = Some(Box::new(f));
    }

    pub fn trading_status(&self) -> Option<serde_json::Value> {
        self.status.read().as_ref().map(|f| f())
    }
}
