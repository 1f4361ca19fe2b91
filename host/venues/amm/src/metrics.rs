//! The AMM venue's Prometheus metrics.

use std::sync::LazyLock;

use arbytron_telemetry::prometheus::{HistogramVec, IntCounterVec, IntGaugeVec};
use arbytron_telemetry::{counter_vec, gauge_vec, latency_histogram};

/// Block timestamp of the block that changed a pool to the moment the new state was
/// published. Block timestamps have one-second resolution, so this is coarse by nature;
/// the benchmark measures the sub-second part precisely.
pub static POOL_UPDATE_LAG: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram(
        "arbytron_amm_pool_update_lag_seconds",
        "Block time of a pool-changing block to the pool update reaching the model",
        &["pool"],
    )
});

/// Pool events seen by the reader (anyone's trades and funding), by kind.
pub static POOL_EVENTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_amm_pool_events_total", "FPMM events observed by the pool reader", &["pool", "kind"])
});

/// The reader's latest block, to spot a stalled node.
pub static READER_HEAD: LazyLock<IntGaugeVec> =
    LazyLock::new(|| gauge_vec("arbytron_amm_reader_head_block", "Latest block processed by the pool reader", &[]));

pub static READER_RESYNCS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_amm_reader_resyncs_total", "Full re-reads of every pool, by reason", &["reason"])
});

/// Our swaps, by pool, action and result (filled, reverted, rejected before sending).
pub static SWAPS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_amm_swaps_total", "Swaps sent by the execution leg", &["pool", "action", "result"])
});

/// Reverts by transaction kind and stage (`simulation`: caught before sending, no gas;
/// `onchain`: mined and reverted, gas spent).
pub static REVERTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec("arbytron_amm_reverts_total", "Transactions that reverted, by kind and stage", &["kind", "stage"])
});

pub static GAS_USED: LazyLock<IntCounterVec> =
    LazyLock::new(|| counter_vec("arbytron_amm_gas_used_total", "Gas used by our transactions", &["kind"]));

pub static GAS_COST_MICROS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    counter_vec(
        "arbytron_amm_gas_cost_micro_dollars_total",
        "Gas spent by our transactions, in micro-dollars at the configured native price",
        &["kind"],
    )
});

/// Send to receipt of our transactions.
pub static TX_LATENCY: LazyLock<HistogramVec> = LazyLock::new(|| {
    latency_histogram("arbytron_amm_tx_latency_seconds", "Submission to receipt of our transactions", &["kind"])
});
