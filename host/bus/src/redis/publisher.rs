//! Pipelined XADD of envelope batches, packed into one entry per stream.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use crate::config::RedisConfig;
use crate::envelope::{Envelope, batch, now_us};
use crate::error::{BusError, PublishError};
use crate::partition::partition_of;
use crate::redis::reply::{BATCH_FIELD, FIELD};
use crate::{BusKind, Publisher, metrics};

/// Publishes to the partition streams; clones share one multiplexed connection.
#[derive(Clone)]
pub struct RedisPublisher {
    cfg: Arc<RedisConfig>,
    streams: Arc<Vec<String>>,
    conn: ConnectionManager,
}

impl RedisPublisher {
    pub(crate) fn new(cfg: Arc<RedisConfig>, conn: ConnectionManager) -> RedisPublisher {
        let streams = Arc::new((0..cfg.partitions).map(|p| cfg.stream_name(p)).collect());
        RedisPublisher { cfg, streams, conn }
    }

    /// The stream a key is published to.
    pub fn stream_of(&self, key: &str) -> &str {
        &self.streams[partition_of(key, self.cfg.partitions) as usize]
    }

    /// One pipeline for the whole batch: per stream, its envelopes in batch
    /// order, `entry_max_envelopes` to an entry (a lone envelope goes as `e`,
    /// several as a `b` frame).
    fn pipeline(&self, batch: &[Envelope], stamp: i64) -> Result<redis::Pipeline, BusError> {
        let mut by_stream: Vec<Vec<&Envelope>> = vec![Vec::new(); self.streams.len()];
        for env in batch {
            by_stream[partition_of(&env.key, self.cfg.partitions) as usize].push(env);
        }
        let mut pipe = redis::pipe();
        let (mut scratch, mut buf) = (Vec::with_capacity(512), Vec::with_capacity(4096));
        for (p, envs) in by_stream.iter().enumerate() {
            for chunk in envs.chunks(self.cfg.entry_max_envelopes) {
                buf.clear();
                let field = if let [one] = chunk {
                    one.encode_into(stamp, &mut buf)?;
                    FIELD
                } else {
                    batch::encode_into(chunk.iter().copied(), stamp, &mut scratch, &mut buf)?;
                    BATCH_FIELD
                };
                pipe.cmd("XADD")
                    .arg(&self.streams[p])
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.cfg.maxlen)
                    .arg("*")
                    .arg(field)
                    .arg(&buf[..])
                    .ignore();
            }
        }
        Ok(pipe)
    }
}

#[async_trait]
impl Publisher for RedisPublisher {
    fn kind(&self) -> BusKind {
        BusKind::Redis
    }

    async fn publish(&self, batch: Vec<Envelope>) -> Result<(), PublishError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let pipe = match self.pipeline(&batch, now_us()) {
            Ok(p) => p,
            Err(e) => return Err(PublishError::new(e, batch)),
        };
        let mut conn = self.conn.clone();
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            // Some entries may be written (a reply lost to a dropped connection):
            // the retry writes them again with the same ids, in the same order,
            // and the consumer's deduplicator drops the repeats.
            return Err(PublishError::new(BusError::from(e), batch));
        }
        metrics::PUBLISHED.with_label_values(&["redis"]).inc_by(batch.len() as u64);
        metrics::PUBLISH_SECONDS.with_label_values(&["redis"]).observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}
