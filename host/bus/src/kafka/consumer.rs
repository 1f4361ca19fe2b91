//! Consumer-group member with manual, contiguous, commit-before-revoke offsets.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer as _, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::watch;

use crate::config::{KafkaConfig, StartFrom};
use crate::envelope::{DecodeError, Envelope};
use crate::error::BusError;
use crate::kafka::offsets::Offsets;
use crate::kafka::{base_config, forward_error, forward_log};
use crate::{AckToken, BusKind, Consumer, ConsumerStats, Delivery, PartitionLag, StatCounters, Token};

const BUS: BusKind = BusKind::Kafka;

/// Callbacks librdkafka runs inside `recv()`, i.e. on our task, between batches.
pub(crate) struct Context {
    topic: String,
    offsets: Arc<Mutex<Offsets>>,
    assignment: watch::Sender<Vec<i32>>,
}

fn lock(offsets: &Mutex<Offsets>) -> MutexGuard<'_, Offsets> {
    // A panic while holding the lock leaves plain bookkeeping behind; keep going.
    offsets.lock().unwrap_or_else(|p| p.into_inner())
}

impl Context {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements_for_topic(&self.topic).iter().map(|e| e.partition()).collect()
    }

    fn commit_list(&self, positions: &[(i32, i64)]) -> Option<TopicPartitionList> {
        let mut tpl = TopicPartitionList::new();
        for (p, pos) in positions {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*pos)).ok()?;
        }
        Some(tpl)
    }
}

impl ClientContext for Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        forward_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        forward_error(&error, reason);
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let parts = self.partitions(tpl);
                let positions = lock(&self.offsets).revoke(&parts);
                if consumer.assignment_lost() {
                    tracing::warn!(partitions = ?parts, "kafka assignment lost (session timed out); not committing");
                    return;
                }
                // Commit before letting go, so the next owner starts exactly after what we processed.
                if let Some(list) = self.commit_list(&positions)
                    && !positions.is_empty()
                    && let Err(e) = consumer.commit(&list, CommitMode::Sync)
                {
                    tracing::warn!(error = %e, "commit before revocation failed; the next owner will reprocess from the last commit");
                }
                tracing::info!(partitions = ?parts, committed = ?positions, "kafka partitions revoked");
            }
            Rebalance::Assign(tpl) => {
                let parts = self.partitions(tpl);
                lock(&self.offsets).assign(&parts);
                tracing::info!(partitions = ?parts, "kafka partitions assigned");
            }
            Rebalance::Error(e) => tracing::warn!(error = %e, "kafka rebalance error"),
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let assigned = lock(&self.offsets).assigned();
        self.assignment.send_replace(assigned);
    }

    fn commit_callback(&self, result: rdkafka::error::KafkaResult<()>, offsets: &TopicPartitionList) {
        if let Err(e) = result {
            // Typically "rebalance in progress": the commit before revocation, or the next periodic one, retries it.
            tracing::info!(error = %e, "kafka offset commit refused; will commit again");
            lock(&self.offsets).commit_failed(&self.partitions(offsets));
        }
    }
}

/// One member of the consumer group.
pub struct KafkaConsumer {
    cfg: Arc<KafkaConfig>,
    consumer: Arc<StreamConsumer<Context>>,
    offsets: Arc<Mutex<Offsets>>,
    assignment: watch::Receiver<Vec<i32>>,
    last_commit: Instant,
    stats: StatCounters,
}

impl KafkaConsumer {
    pub(crate) async fn new(cfg: Arc<KafkaConfig>) -> Result<KafkaConsumer, BusError> {
        let offsets = Arc::new(Mutex::new(Offsets::default()));
        let (tx, rx) = watch::channel(Vec::new());
        let context = Context { topic: cfg.topic.clone(), offsets: offsets.clone(), assignment: tx };
        let heartbeat = (cfg.session_timeout_ms / 3).max(10);
        let consumer: StreamConsumer<Context> = base_config(&cfg)
            .set("group.id", &cfg.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                match cfg.start {
                    StartFrom::Earliest => "earliest",
                    StartFrom::Latest => "latest",
                },
            )
            .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
            .set("heartbeat.interval.ms", heartbeat.to_string())
            .set("enable.partition.eof", "false")
            .create_with_context(context)?;
        consumer.subscribe(&[&cfg.topic])?;
        Ok(KafkaConsumer {
            cfg,
            consumer: Arc::new(consumer),
            offsets,
            assignment: rx,
            last_commit: Instant::now(),
            stats: StatCounters::default(),
        })
    }

    /// The partitions currently assigned to this member, updated after each rebalance.
    pub fn assignment(&self) -> watch::Receiver<Vec<i32>> {
        self.assignment.clone()
    }

    /// Record one message; `None` for a message of a partition we no longer own, or one not ours.
    fn take(&self, m: &BorrowedMessage<'_>) -> Option<Delivery> {
        let (partition, offset) = (m.partition(), m.offset());
        let decoded = match m.payload() {
            None => Err(DecodeError::Empty),
            Some(bytes) => Envelope::decode(bytes),
        };
        let mut offsets = lock(&self.offsets);
        match decoded {
            Ok(envelope) => {
                let (generation, redelivered) = offsets.delivered(partition, offset, false)?;
                Some(Delivery {
                    envelope,
                    redelivered,
                    token: AckToken(Token::Kafka { partition, offset, generation }),
                })
            }
            Err(err) => {
                offsets.delivered(partition, offset, true);
                drop(offsets);
                self.stats.rejected(BUS, &err, m.payload().unwrap_or_default());
                None
            }
        }
    }

    /// Commit processed positions if the interval passed (or `force`), without waiting for the broker.
    fn maybe_commit(&mut self, force: bool) -> Result<(), BusError> {
        if !force && self.last_commit.elapsed() < Duration::from_millis(self.cfg.commit_interval_ms) {
            return Ok(());
        }
        let positions = lock(&self.offsets).committable();
        self.last_commit = Instant::now();
        if positions.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (p, pos) in &positions {
            tpl.add_partition_offset(&self.cfg.topic, *p, Offset::Offset(*pos))?;
        }
        self.consumer.commit(&tpl, CommitMode::Async)?;
        lock(&self.offsets).committed(&positions);
        Ok(())
    }
}

#[async_trait]
impl Consumer for KafkaConsumer {
    fn kind(&self) -> BusKind {
        BUS
    }

    async fn poll(&mut self, max: usize) -> Result<Vec<Delivery>, BusError> {
        self.maybe_commit(false)?;
        let wait = Duration::from_millis(self.cfg.poll_timeout_ms);
        let mut out = Vec::new();
        // Rebalance callbacks run inside recv(): only here, between batches.
        match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_) => return Ok(out),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(m)) => out.extend(self.take(&m)),
        }
        while out.len() < max {
            match self.consumer.recv().now_or_never() {
                Some(Ok(m)) => out.extend(self.take(&m)),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "kafka consume error");
                    break;
                }
                None => break,
            }
        }
        // Partitions revoked while this batch was gathered now belong to another member,
        // which will process those messages; handing them out too would process them twice.
        let offsets = lock(&self.offsets);
        out.retain(|d| match d.token.0 {
            Token::Kafka { partition, generation, .. } => offsets.is_current(partition, generation),
            _ => false,
        });
        drop(offsets);
        let redelivered = out.iter().filter(|d| d.redelivered).count() as u64;
        self.stats.delivered(BUS, out.len() as u64, redelivered);
        Ok(out)
    }

    async fn ack(&mut self, tokens: &[AckToken]) -> Result<(), BusError> {
        {
            let mut offsets = lock(&self.offsets);
            for t in tokens {
                match t.0 {
                    Token::Kafka { partition, offset, generation } => {
                        if !offsets.ack(partition, offset, generation) {
                            tracing::debug!(partition, offset, "ack after revocation ignored");
                        }
                    }
                    ref other => {
                        return Err(BusError::Config(format!("a {other:?} token cannot be acked on Kafka")));
                    }
                }
            }
        }
        self.maybe_commit(false)
    }

    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        let consumer = self.consumer.clone();
        let topic = self.cfg.topic.clone();
        let timeout = Duration::from_millis(self.cfg.admin_timeout_ms);
        let assigned = lock(&self.offsets).assigned();
        tokio::task::spawn_blocking(move || -> Result<Vec<PartitionLag>, BusError> {
            let mut tpl = TopicPartitionList::new();
            for p in &assigned {
                tpl.add_partition(&topic, *p);
            }
            let committed = consumer.committed_offsets(tpl, timeout)?;
            let mut out = Vec::with_capacity(assigned.len());
            for p in assigned {
                let (low, high) = consumer.fetch_watermarks(&topic, p, timeout)?;
                let lag = match committed.find_partition(&topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(c)) => high - c,
                    // Nothing committed yet: everything retained is still to do.
                    _ => high - low,
                };
                out.push(PartitionLag { partition: p as u32, lag: Some(lag.max(0)), pending: None });
            }
            Ok(out)
        })
        .await
        .map_err(|e| BusError::Task(e.to_string()))?
    }

    async fn close(self: Box<Self>) -> Result<(), BusError> {
        let positions = lock(&self.offsets).positions();
        let consumer = self.consumer.clone();
        let topic = self.cfg.topic.clone();
        drop(self);
        // Final commit, then leave the group (drop closes the consumer); both block.
        tokio::task::spawn_blocking(move || -> Result<(), BusError> {
            if !positions.is_empty() {
                let mut tpl = TopicPartitionList::new();
                for (p, pos) in &positions {
                    tpl.add_partition_offset(&topic, *p, Offset::Offset(*pos))?;
                }
                consumer.commit(&tpl, CommitMode::Sync)?;
            }
            drop(consumer);
            Ok(())
        })
        .await
        .map_err(|e| BusError::Task(e.to_string()))?
    }

    fn stats(&self) -> ConsumerStats {
        self.stats.snapshot()
    }
}
