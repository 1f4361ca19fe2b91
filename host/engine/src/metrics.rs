//! The trading core's metrics (issue 7's list), defined once here and used by
//! the engine and by the service's execution and portfolio code.

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::{GaugeVec, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec};
use arbytron_telemetry::{counter_vec, float_gauge_vec, gauge_vec, latency_histogram};

pub static OPPORTUNITIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_opportunities_total",
        "Opportunities strategies found, and whether the host took or rejected them (with the reason)",
        &["strategy", "result", "reason"],
    )
});

/// Link evaluations skipped without calling a strategy because the cheapest
/// asks across the link already cost $1 or more.
pub static LINKS_SKIPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    let c = counter_vec(
        "arbytron_links_skipped_total",
        "Link evaluations skipped before scoring: the cheapest asks already sum to $1 or more",
        &[],
    );
    c.with_label_values::<&str>(&[])
});

pub static ORDERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_orders_total", "Orders sent by the trading core, by venue and result", &["venue", "result"])
});

pub static FILLS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter_vec("arbytron_fills_total", "Fills received for our orders", &["venue"]));

pub static LEG_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram("arbytron_leg_seconds", "Time from sending a leg to its final report", &["venue"])
});

pub static TICK_TO_DECISION: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram(
        "arbytron_tick_to_decision_seconds",
        "From a market update's arrival to the engine's decisions being ready",
        &["kind"],
    )
});

pub static BUNDLES_OPEN: LazyLock<IntGauge> = LazyLock::new(|| {
    let g = gauge_vec("arbytron_bundles_open", "Bundles currently held", &[]);
    g.with_label_values::<&str>(&[])
});

/// Dollars for display; all accounting stays in exact micro-dollars.
pub static EXPOSURE: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec("arbytron_exposure_dollars", "Capital at risk in open and pending bundles, by venue", &["venue"])
});

pub static PNL_REALIZED: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec("arbytron_pnl_realized_dollars", "Realised profit and loss since the store began", &[])
});

pub static PNL_UNREALIZED: LazyLock<GaugeVec> = LazyLock::new(|| {
    float_gauge_vec("arbytron_pnl_unrealized_dollars", "Unrealised PnL of held bundles, marked to the bids", &[])
});

pub static BOOK_STALE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "arbytron_book_stale",
        "Open markets whose book the engine will not trade on (stale or missing)",
        &["venue"],
    )
});

pub(crate) fn opportunity(strategy: &str, result: &str, reason: &str) {
    OPPORTUNITIES.with_label_values(&[strategy, result, reason]).inc();
}
