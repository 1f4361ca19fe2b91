//! The connector's Prometheus metrics.
//!
//! Feed-health families (`arbytron_feed_*`) are venue-labelled and may also be
//! registered by another connector in the same process; registration here
//! tolerates that instead of panicking. (`arbytron_book_stale` and
//! `arbytron_orders_total` belong to the engine, which sees every venue.)

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::{self, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

fn register<C: prometheus::core::Collector + Clone + 'static>(c: C) -> C {
    // AlreadyReg means another crate owns the exported family; ours then counts
    // privately (tests still read it) rather than taking the process down.
    if let Err(e) = prometheus::default_registry().register(Box::new(c.clone())) {
        tracing::debug!(error = %e, "metric family registered elsewhere; counting privately");
    }
    c
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition"))
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition"))
}

fn histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    register(
        HistogramVec::new(HistogramOpts::new(name, help).buckets(arbytron_telemetry::LATENCY_BUCKETS.to_vec()), labels)
            .expect("valid histogram definition"),
    )
}

/// Books currently not vouched for (awaiting a snapshot after a gap, a disconnect or silence).
pub static BOOK_STALE: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge("arbytron_feed_stale_books", "Books the connector currently does not vouch for", &["venue"])
});

pub static FEED_GAPS: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("arbytron_feed_gaps_total", "Sequence gaps detected on venue feeds", &["venue"]));

pub static FEED_RESYNCS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter("arbytron_feed_resyncs_total", "Book resyncs requested (snapshot re-requests)", &["venue", "reason"])
});

/// Exchange timestamp to our receipt.
pub static FEED_LAG: LazyLock<HistogramVec> =
    LazyLock::new(|| histogram("arbytron_feed_lag_seconds", "Venue message timestamp to receipt", &["venue"]));

pub static RATE_LIMITED: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter("arbytron_venue_429_total", "HTTP 429 answers received", &["venue"]));

pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter("arbytron_kalshi_requests_total", "Kalshi REST requests by endpoint and outcome", &["endpoint", "outcome"])
});

pub static ORDERS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter("arbytron_venue_orders_total", "Orders sent by connectors, by venue and outcome", &["venue", "outcome"])
});

pub static REST_LATENCY: LazyLock<HistogramVec> =
    LazyLock::new(|| histogram("arbytron_kalshi_request_seconds", "Kalshi REST round trip", &["endpoint"]));
