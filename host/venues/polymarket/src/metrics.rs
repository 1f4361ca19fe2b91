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

pub static WS_RECONNECTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_polymarket_ws_reconnects_total",
        "Polymarket WebSocket reconnects, by reason",
        &["channel", "reason"],
    )
});

pub static WS_CONNECTIONS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec("arbytron_polymarket_ws_connections", "Open Polymarket WebSocket connections", &["channel"])
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
