//! The strategy runtime's metrics.

use std::sync::LazyLock;
use std::time::Duration;

use arbytron_telemetry::prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec};
use arbytron_telemetry::{counter_vec, gauge_vec, latency_histogram};

use crate::instance::Func;

pub static CALLS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter_vec("arbytron_strategy_calls_total", "Strategy export calls", &["strategy", "fn"]));
pub static CALL_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram("arbytron_strategy_call_seconds", "Strategy export call latency", &["strategy", "fn"])
});
pub static CALL_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_strategy_call_errors_total",
        "Strategy calls that trapped, timed out, exceeded memory or returned invalid values",
        &["strategy", "fn", "kind"],
    )
});
pub static RELOADS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_strategy_reloads_total",
        "Strategy module loads and reloads, by result (ok, or the failing step)",
        &["strategy", "result"],
    )
});
pub static QUARANTINED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec("arbytron_strategy_quarantined", "1 while a strategy is quarantined after a fault", &["strategy"])
});
pub static INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec("arbytron_strategy_info", "The live version of each strategy (value 1)", &["strategy", "version", "hash"])
});

/// Per-instance handles, resolved once so the hot path does no label lookups.
pub(crate) struct CallMetrics {
    strategy: String,
    calls: Vec<IntCounter>,
    seconds: Vec<Histogram>,
}

impl CallMetrics {
    pub(crate) fn new(strategy: &str) -> CallMetrics {
        CallMetrics {
            strategy: strategy.to_string(),
            calls: Func::ALL.iter().map(|f| CALLS.with_label_values(&[strategy, f.name()])).collect(),
            seconds: Func::ALL.iter().map(|f| CALL_SECONDS.with_label_values(&[strategy, f.name()])).collect(),
        }
    }

    fn index(func: Func) -> usize {
        Func::ALL.iter().position(|f| *f == func).unwrap_or(0)
    }

    pub(crate) fn observe(&self, func: Func, elapsed: Duration) {
        let i = Self::index(func);
        self.calls[i].inc();
        self.seconds[i].observe(elapsed.as_secs_f64());
    }

    pub(crate) fn error(&self, func: Func, kind: &str) {
        CALL_ERRORS.with_label_values(&[&self.strategy, func.name(), kind]).inc();
    }
}
