//! Pipelined XADD of envelope batches.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use redis::aio::ConnectionManager;

use crate::config::RedisConfig;
use crate::envelope::{Envelope, now_us};
use crate::error::{BusError, PublishError};
use crate::partition::partition_of;
use crate::redis::reply::FIELD;
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
}

#[async_trait]
impl Publisher for RedisPublisher {
    fn kind(&self) -> BusKind {
        BusKind::Redis
    }

    async fn publish(&self, mut batch: Vec<Envelope>) -> Result<(), PublishError> {
        let started = Instant::now();
        let total = batch.len();
        let stamp = now_us();
        let mut done = 0;
        let mut conn = self.conn.clone();
        let mut buf = Vec::with_capacity(512);
        while done < batch.len() {
            let end = (done + self.cfg.publish_chunk).min(batch.len());
            let mut pipe = redis::pipe();
            for env in &batch[done..end] {
                buf.clear();
                if let Err(e) = env.encode_into(stamp, &mut buf) {
                    return Err(PublishError::new(e, batch.split_off(done)));
                }
                pipe.cmd("XADD")
                    .arg(self.stream_of(&env.key))
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(self.cfg.maxlen)
                    .arg("*")
                    .arg(FIELD)
                    .arg(&buf[..])
                    .ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                // Earlier chunks are confirmed; this one may be partly written (its
                // repeats are dropped by id downstream), so resume from its start.
                return Err(PublishError::new(BusError::from(e), batch.split_off(done)));
            }
            done = end;
        }
        metrics::PUBLISHED.with_label_values(&["redis"]).inc_by(total as u64);
        metrics::PUBLISH_SECONDS.with_label_values(&["redis"]).observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}
