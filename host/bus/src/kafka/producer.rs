//! Idempotent, keyed, batched producer.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::envelope::{Envelope, now_us};
use crate::error::{BusError, PublishError};
use crate::kafka::{LogContext, base_config};
use crate::{BusKind, Publisher, metrics};

/// Publishes envelopes keyed by market; clones share one producer.
#[derive(Clone)]
pub struct KafkaPublisher {
    producer: FutureProducer<LogContext>,
    topic: Arc<str>,
}

impl KafkaPublisher {
    pub(crate) fn new(cfg: Arc<KafkaConfig>) -> Result<KafkaPublisher, BusError> {
        let producer: FutureProducer<LogContext> = base_config(&cfg)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("max.in.flight.requests.per.connection", "5")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", cfg.linger_ms.to_string())
            .set("batch.num.messages", cfg.batch_messages.to_string())
            .set("compression.type", cfg.compression.as_str())
            .set("message.timeout.ms", cfg.message_timeout_ms.to_string())
            .set("queue.buffering.max.messages", "1000000")
            .create_with_context(LogContext)?;
        Ok(KafkaPublisher { producer, topic: cfg.topic.as_str().into() })
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    fn kind(&self) -> BusKind {
        BusKind::Kafka
    }

    async fn publish(&self, batch: Vec<Envelope>) -> Result<(), PublishError> {
        let started = Instant::now();
        let stamp = now_us();
        let mut inflight: VecDeque<DeliveryFuture> = VecDeque::with_capacity(batch.len());
        let mut failure: Option<BusError> = None;
        let mut buf = Vec::with_capacity(512);
        'batch: for env in &batch {
            buf.clear();
            if let Err(e) = env.encode_into(stamp, &mut buf) {
                failure = Some(e);
                break;
            }
            loop {
                let record = FutureRecord::to(&self.topic).key(env.key.as_bytes()).payload(&buf[..]);
                match self.producer.send_result(record) {
                    Ok(f) => {
                        inflight.push_back(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        // The local queue is full: wait for the oldest of ours, or for anyone's, then retry.
                        match inflight.pop_front() {
                            Some(f) => {
                                if let Err(e) = settle(f).await {
                                    failure = Some(e);
                                    break 'batch;
                                }
                            }
                            None => tokio::time::sleep(Duration::from_millis(1)).await,
                        }
                    }
                    Err((e, _)) => {
                        failure = Some(e.into());
                        break 'batch;
                    }
                }
            }
        }
        for f in inflight {
            if let Err(e) = settle(f).await
                && failure.is_none()
            {
                failure = Some(e);
            }
        }
        if let Some(e) = failure {
            // Some messages may have landed; republishing them whole keeps per-key
            // order, and the consumer drops the repeats by envelope id.
            return Err(PublishError::new(e, batch));
        }
        metrics::PUBLISHED.with_label_values(&["kafka"]).inc_by(batch.len() as u64);
        metrics::PUBLISH_SECONDS.with_label_values(&["kafka"]).observe(started.elapsed().as_secs_f64());
        Ok(())
    }
}

async fn settle(f: DeliveryFuture) -> Result<(), BusError> {
    match f.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e.into()),
        Err(_) => Err(BusError::Kafka(KafkaError::Canceled)),
    }
}
