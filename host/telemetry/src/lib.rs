//! Logs and metrics: the observability plumbing every Arbytron crate shares.
//! (Secrets and redaction live in the integration layer, `arbytron-integration`.)
//!
//! Metrics live in Prometheus' default registry, registered lazily by the crate
//! that owns them (`static X: LazyLock<IntCounterVec> = ...`), so `/metrics`
//! shows everything the process has touched without a central list to keep in sync.

use std::sync::LazyLock;

pub use prometheus;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

/// Latency buckets from 100 ns to 10 s: strategy calls sit at the bottom, venue
/// round-trips and on-chain receipts at the top.
pub const LATENCY_BUCKETS: &[f64] = &[
    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Register a counter family in the default registry.
///
/// # Panics
/// On a malformed or duplicate metric name: a programming error caught by any test that touches the metric.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter definition");
    prometheus::default_registry().register(Box::new(c.clone())).expect("metric registered once");
    c
}

/// Register a gauge family in the default registry (panics as [`counter_vec`]).
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition");
    prometheus::default_registry().register(Box::new(g.clone())).expect("metric registered once");
    g
}

/// Register a float gauge family (dollar amounts shown to humans; never used for money math).
pub fn float_gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::GaugeVec {
    let g = prometheus::GaugeVec::new(Opts::new(name, help), labels).expect("valid gauge definition");
    prometheus::default_registry().register(Box::new(g.clone())).expect("metric registered once");
    g
}

/// Register a histogram family with [`LATENCY_BUCKETS`] (panics as [`counter_vec`]).
pub fn latency_histogram(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)
        .expect("valid histogram definition");
    prometheus::default_registry().register(Box::new(h.clone())).expect("metric registered once");
    h
}

/// Everything registered so far, in the Prometheus text format.
pub fn render_metrics() -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    let encoder = prometheus::TextEncoder::new();
    if let Err(e) = encoder.encode(&prometheus::default_registry().gather(), &mut buf) {
        return format!("# encoding the metrics failed: {e}\n");
    }
    String::from_utf8(buf).unwrap_or_default()
}

/// Count of malformed inputs dropped at an edge, by source and reason.
pub static MALFORMED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_malformed_messages_total",
        "Venue or bus messages that failed to parse and were dropped",
        &["source", "reason"],
    )
});

/// Count, log and drop a malformed message: the one way every edge does it.
pub fn malformed(source: &str, reason: &str, sample: &str) {
    MALFORMED.with_label_values(&[source, reason]).inc();
    tracing::warn!(source, reason, sample = %truncate(sample, 200), "dropped malformed message");
}

/// At most `max` bytes of `s` (on a char boundary), with an ellipsis if cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Log output format.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Json,
    Human,
}

/// Install the global tracing subscriber. `filter` uses `RUST_LOG` syntax.
/// Calling it twice is harmless (the second call is ignored), which keeps tests simple.
pub fn init_logging(format: LogFormat, filter: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Human => builder.try_init(),
    };
    if let Err(e) = installed {
        tracing::trace!(error = %e, "a log subscriber is already installed; keeping it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_counted_and_rendered() {
        malformed("test-source", "bad-json", "{\"x\":");
        malformed("test-source", "bad-json", "]");
        assert_eq!(MALFORMED.with_label_values(&["test-source", "bad-json"]).get(), 2);
        assert!(
            render_metrics()
                .contains("arbytron_malformed_messages_total{reason=\"bad-json\",source=\"test-source\"} 2")
        );
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("ééé", 3), "é…");
        assert_eq!(truncate("abc", 3), "abc");
    }
}
