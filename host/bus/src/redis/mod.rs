//! Redis Streams bus.
//!
//! - Partitioning: `partitions` streams `{stream}:{i}`; a market goes to
//!   `fnv1a(key) % partitions`, so its updates stay in one stream, in order.
//! - Publishing: one pipeline per batch of `XADD {stream}:{i} MAXLEN ~ {maxlen} * b <frame>`,
//!   one entry per stream holding that batch's envelopes for the stream (up to
//!   `entry_max_envelopes`; a lone envelope goes as `e <envelope>`). Redis's
//!   per-entry work (XADD, the pending list, XACK) is then paid per batch, which
//!   is what lifts throughput past 100k updates/s on a small host; under a
//!   trickle every entry is a single envelope and nothing waits to fill a batch.
//!   A failed pipeline is retried by the caller with the same envelope ids
//!   (duplicates are dropped by the consumer).
//! - Consuming: one consumer group over all streams (created if missing);
//!   `XREADGROUP >` for new entries, `XACK` once every envelope of an entry is
//!   acked (a partly processed entry is redelivered whole, and the
//!   deduplicator drops the envelopes already done). A consumer reads
//!   its own pending-entries list first on start and after every error (what it
//!   was handed but never acked), and periodically takes over entries another
//!   consumer left pending longer than `claim_min_idle` (`XAUTOCLAIM`).
//! - Connections: [`redis::aio::ConnectionManager`] reconnects by itself; a
//!   blocking read gets its own connection so acks never queue behind it.
//! - Lag and pending (`XINFO GROUPS`) count entries, not envelopes.
//!
//! Ordering caveat: a consumer group hands a stream's entries to whichever
//! member asks, so per-key order holds per consumer, and across consumers only
//! if each stream has one reader. Pin streams to hosts with `only_partitions`
//! when several hosts consume (Kafka does this assignment by itself).

mod consumer;
mod publisher;
pub(crate) mod reply;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use consumer::RedisConsumer;
pub use publisher::RedisPublisher;
pub use reply::EntryId;

use crate::config::RedisConfig;
use crate::error::BusError;
use crate::{Bus, BusKind, Consumer, Publisher};

/// A connected Redis Streams bus.
pub struct RedisBus {
    cfg: Arc<RedisConfig>,
    client: redis::Client,
}

impl RedisBus {
    /// Check the configuration and that the server answers.
    pub async fn connect(cfg: RedisConfig) -> Result<RedisBus, BusError> {
        cfg.validate()?;
        let client = redis::Client::open(cfg.url.expose().as_str())
            .map_err(|e| BusError::Config(format!("redis.url is not a valid Redis URL: {}", e.category())))?;
        let bus = RedisBus { cfg: Arc::new(cfg), client };
        let mut conn = bus.connection(None).await?;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
        Ok(bus)
    }

    pub fn config(&self) -> &RedisConfig {
        &self.cfg
    }

    pub(crate) async fn connection(&self, response_timeout: Option<Duration>) -> Result<ConnectionManager, BusError> {
        let timeout = response_timeout.unwrap_or(Duration::from_millis(self.cfg.response_timeout_ms));
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(timeout))
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(2))
            .set_number_of_retries(8);
        Ok(self.client.get_connection_manager_with_config(config).await?)
    }

    pub async fn publisher(&self) -> Result<RedisPublisher, BusError> {
        Ok(RedisPublisher::new(self.cfg.clone(), self.connection(None).await?))
    }

    /// A consumer named as configured.
    pub async fn consumer(&self) -> Result<RedisConsumer, BusError> {
        self.consumer_named(&self.cfg.consumer).await
    }

    /// A consumer with another name in the same group (several consumers in one process, tests).
    pub async fn consumer_named(&self, name: &str) -> Result<RedisConsumer, BusError> {
        RedisConsumer::new(self, name.to_string()).await
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn kind(&self) -> BusKind {
        BusKind::Redis
    }

    async fn publisher(&self) -> Result<Arc<dyn Publisher>, BusError> {
        Ok(Arc::new(RedisBus::publisher(self).await?))
    }

    async fn consumer(&self) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(RedisBus::consumer(self).await?))
    }
}
