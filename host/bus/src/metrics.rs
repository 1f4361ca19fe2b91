//! The bus's Prometheus metrics, labelled by bus kind (`memory`, `redis`, `kafka`).

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use arbytron_telemetry::{counter_vec, gauge_vec, latency_histogram};

use crate::BusKind;
use crate::envelope::{DecodeError, sample};

pub static PUBLISHED: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter_vec("arbytron_bus_published_total", "Envelopes the broker acknowledged", &["bus"]));

pub static CONSUMED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_bus_consumed_total", "Envelopes handed to the handler and acknowledged", &["bus"])
});

pub static REDELIVERED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_bus_redelivered_total",
        "Deliveries the broker marked as repeats (pending-list reads, XAUTOCLAIM, replayed offsets)",
        &["bus"],
    )
});

pub static DUPLICATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_bus_duplicates_total",
        "Envelopes dropped by the deduplicator because they were already processed",
        &["bus"],
    )
});

pub static REJECTED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_bus_rejected_total",
        "Messages on the bus that were not our envelopes (foreign, other version, malformed); acked and skipped",
        &["bus", "reason"],
    )
});

pub static LOST: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_bus_lost_total",
        "Pending entries the broker trimmed before they were processed (stream cap too small for the lag)",
        &["bus"],
    )
});

pub static LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "arbytron_bus_consumer_lag",
        "Backlog of a partition for this consumer group (Kafka: messages past the committed offset; Redis: entries not yet delivered)",
        &["bus", "partition"],
    )
});

pub static PENDING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    gauge_vec(
        "arbytron_bus_consumer_pending",
        "Delivered to the group but not yet acknowledged, by partition (Redis stream entries)",
        &["bus", "partition"],
    )
});

pub static PUBLISH_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram(
        "arbytron_bus_publish_seconds",
        "Time for a batch publish to be acknowledged by the broker",
        &["bus"],
    )
});

pub static DELIVERY_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram(
        "arbytron_bus_delivery_seconds",
        "Publish stamp to consumer receipt (across hosts this includes clock skew)",
        &["bus"],
    )
});

/// Count, log and skip a message that is not one of our envelopes.
pub fn reject(bus: BusKind, err: &DecodeError, raw: &[u8]) {
    REJECTED.with_label_values(&[bus.as_str(), err.reason()]).inc();
    let source = match bus {
        BusKind::Memory => "bus-memory",
        BusKind::Redis => "bus-redis",
        BusKind::Kafka => "bus-kafka",
    };
    arbytron_telemetry::malformed(source, err.reason(), &format!("{err}: {}", sample(raw)));
}
