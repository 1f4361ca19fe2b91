//! Market-update buses: in-process, Redis Streams and Kafka, with MessagePack envelopes.
//!
//! The bus decouples venue connectors (producers, `arbytron ingest`) from the
//! engine (consumer, `arbytron run --bus …`), and is how Arbytron spreads over
//! several hosts. One interface, three implementations:
//!
//! | bus | ordering | delivery | scale-out |
//! |---|---|---|---|
//! | [`MemoryBus`] (default) | global FIFO | in-process, no redelivery | one process |
//! | [`RedisBus`] | per stream (FNV-1a of the market key mod N) | at least once: XACK after processing, XAUTOCLAIM of a dead consumer's entries | consumers share a group; `only_partitions` pins streams to hosts |
//! | [`KafkaBus`] | per partition (murmur2 of the key) | at least once: offsets committed after processing | hosts share a consumer group; the group protocol spreads partitions |
//!
//! Every message is an [`Envelope`] (schema-versioned MessagePack, see
//! [`envelope`]); messages that are not ours are counted, logged, acked and
//! skipped. Redeliveries are dropped by a [`Deduplicator`] before the handler
//! sees them, so the engine never takes a decision twice for one update.
//!
//! Process roles: [`run_ingest`] (updates → batches → bus) and
//! [`run_consumer`] (bus → handler → ack).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

pub mod config;
pub mod dedup;
pub mod envelope;
pub mod error;
pub mod kafka;
pub mod memory;
pub mod metrics;
pub mod partition;
pub mod redis;
pub mod roles;

pub use config::{BusConfig, Compression, KafkaConfig, MemoryConfig, RedisConfig, StartFrom};
pub use dedup::{DEFAULT_DEDUP_CAPACITY, Deduplicator};
pub use envelope::{DecodeError, Envelope, EnvelopeId, SCHEMA_VERSION, Sequencer};
pub use error::{BusError, PublishError};
pub use kafka::{KafkaBus, KafkaConsumer, KafkaPublisher};
pub use memory::{MemoryBus, MemoryConsumer, MemoryPublisher};
pub use redis::{RedisBus, RedisConsumer, RedisPublisher};
pub use roles::{ConsumeOptions, ConsumeReport, Handler, IngestOptions, IngestReport, run_consumer, run_ingest};

/// Which implementation; the `bus` label of every metric.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BusKind {
    Memory,
    Redis,
    Kafka,
}

impl BusKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            BusKind::Memory => "memory",
            BusKind::Redis => "redis",
            BusKind::Kafka => "kafka",
        }
    }
}

impl std::fmt::Display for BusKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connected bus: hands out publishers and group consumers.
#[async_trait]
pub trait Bus: Send + Sync {
    fn kind(&self) -> BusKind;

    /// A publisher; cheap to share between tasks.
    async fn publisher(&self) -> Result<Arc<dyn Publisher>, BusError>;

    /// A consumer in the configured group, named as configured.
    async fn consumer(&self) -> Result<Box<dyn Consumer>, BusError>;
}

/// The producing side.
#[async_trait]
pub trait Publisher: Send + Sync {
    fn kind(&self) -> BusKind;

    /// Publish a batch, in order, stamping each envelope's publish time.
    ///
    /// `Ok` means the broker has every envelope (Redis replied to every XADD;
    /// Kafka acknowledged every message with acks=all). On error the whole
    /// batch comes back in [`PublishError::unsent`]: retry it unchanged. Some
    /// of it may already be on the bus; the consumer's deduplicator drops the
    /// repeats by envelope id, and per-key order survives because the retry
    /// replays the batch in the same order.
    async fn publish(&self, batch: Vec<Envelope>) -> Result<(), PublishError>;
}

/// The consuming side: poll, process, then ack.
#[async_trait]
pub trait Consumer: Send {
    fn kind(&self) -> BusKind;

    /// The next deliveries, waiting a bounded time (empty when nothing came).
    ///
    /// Envelopes of one partition key come in publish order. `max` bounds one
    /// read per partition. Messages that are not valid envelopes never come
    /// out of here: they are counted, logged and acked internally.
    async fn poll(&mut self, max: usize) -> Result<Vec<Delivery>, BusError>;

    /// Acknowledge processed deliveries; unacknowledged ones are redelivered
    /// (to this consumer after a reconnect, or to another after it dies).
    async fn ack(&mut self, tokens: &[AckToken]) -> Result<(), BusError>;

    /// Lag and pending counts per partition this consumer can see.
    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError>;

    /// Commit what was acked and leave the group.
    async fn close(self: Box<Self>) -> Result<(), BusError>;

    /// Counters of this consumer since it was created.
    fn stats(&self) -> ConsumerStats;
}

/// One envelope handed out by [`Consumer::poll`].
#[derive(Clone, Debug)]
pub struct Delivery {
    pub envelope: Envelope,
    /// The broker says this was delivered before (read back from the pending
    /// list, claimed from a dead consumer, or an offset seen again).
    pub redelivered: bool,
    pub token: AckToken,
}

/// What [`Consumer::ack`] needs to acknowledge one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckToken(pub(crate) Token);

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Token {
    Memory,
    Redis { partition: u32, id: crate::redis::EntryId },
    Kafka { partition: i32, offset: i64, generation: u64 },
}

/// Backlog of one partition for this consumer's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub partition: u32,
    /// Messages not yet delivered to the group (`None` when the broker cannot tell).
    /// Redis counts stream entries (one publish batch's envelopes each), Kafka messages.
    pub lag: Option<i64>,
    /// Delivered but not acknowledged.
    pub pending: Option<i64>,
}

/// Per-consumer counters (the Prometheus metrics aggregate all consumers of a process).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// Envelopes handed out by `poll`.
    pub delivered: u64,
    /// Of those, how many the broker marked as redelivered.
    pub redelivered: u64,
    /// Messages that were not valid envelopes (acked and skipped).
    pub rejected: u64,
    /// Pending entries the broker had trimmed before they were processed.
    pub lost: u64,
}

#[derive(Debug, Default)]
pub(crate) struct StatCounters {
    delivered: AtomicU64,
    redelivered: AtomicU64,
    rejected: AtomicU64,
    lost: AtomicU64,
}

impl StatCounters {
    pub(crate) fn delivered(&self, bus: BusKind, n: u64, redelivered: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
        if redelivered > 0 {
            self.redelivered.fetch_add(redelivered, Ordering::Relaxed);
            metrics::REDELIVERED.with_label_values(&[bus.as_str()]).inc_by(redelivered);
        }
    }

    pub(crate) fn rejected(&self, bus: BusKind, err: &DecodeError, raw: &[u8]) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        metrics::reject(bus, err, raw);
    }

    pub(crate) fn lost(&self, bus: BusKind, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
        metrics::LOST.with_label_values(&[bus.as_str()]).inc_by(n);
    }

    pub(crate) fn snapshot(&self) -> ConsumerStats {
        ConsumerStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            redelivered: self.redelivered.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
        }
    }
}

/// Connect the configured bus (validating the configuration first).
pub async fn connect(cfg: &BusConfig) -> Result<Arc<dyn Bus>, BusError> {
    cfg.validate()?;
    Ok(match cfg {
        BusConfig::Memory(c) => Arc::new(MemoryBus::new(c)?),
        BusConfig::Redis(c) => Arc::new(RedisBus::connect(c.clone()).await?),
        BusConfig::Kafka(c) => Arc::new(KafkaBus::connect(c.clone()).await?),
    })
}
