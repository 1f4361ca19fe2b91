//! The connector's Prometheus metrics (registered on first use).

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use arbytron_telemetry::{counter_vec, gauge_vec, latency_histogram};

pub static REST_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram("arbytron_polymarket_rest_seconds", "Polymarket REST round trips", &["method", "endpoint"])
});

pub static REST_ERRORS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_polymarket_rest_errors_total", "Polymarket REST failures", &["endpoint", "kind"])
});

pub static WS_MESSAGES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_polymarket_ws_messages_total", "Polymarket WebSocket events applied", &["channel", "event"])
});

pub static STALE_BOOKS: LazyLock<IntGaugeVec> =
    LazyLock::new(|| gauge_vec("arbytron_polymarket_stale_books", "Polymarket books currently stale", &["shard"]));

pub static ORDERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_polymarket_orders_total", "Polymarket orders by outcome", &["order_type", "outcome"])
});

pub static ORDER_RETRIES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_polymarket_order_retries_total", "Polymarket order retries, by reason", &["reason"])
});

pub static FILLS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_polymarket_fills_total", "Polymarket trade state transitions seen", &["state"])
});

/// Resolved once: label lookups hash their strings, too slow for every WS event.
pub static MARKET_EVENTS: LazyLock<[arbytron_telemetry::prometheus::IntCounter; 5]> = LazyLock::new(|| {
    ["book", "price_change", "tick_size_change", "last_trade_price", "market_resolved"]
        .map(|e| WS_MESSAGES.with_label_values(&["market", e]))
});

pub const EV_BOOK: usize = 0;
pub const EV_PRICE_CHANGE: usize = 1;
pub const EV_TICK_SIZE_CHANGE: usize = 2;
pub const EV_LAST_TRADE_PRICE: usize = 3;
pub const EV_MARKET_RESOLVED: usize = 4;

/// Count one market-channel event of kind `EV_*`.
pub fn market_event(kind: usize) {
    MARKET_EVENTS[kind].inc();
}
