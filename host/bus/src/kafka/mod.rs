//! Kafka bus (rdkafka over bundled librdkafka).
//!
//! - One topic, keyed by market: librdkafka's murmur2 partitioner (the Java
//!   clients' default) keeps a market in one partition, hence in order.
//! - Producer: idempotent (`enable.idempotence`, `acks=all`), so broker-side
//!   retries neither duplicate nor reorder; a publish returns once every
//!   message is acknowledged.
//! - Consumer group: hosts with the same group split the partitions (the
//!   group protocol assigns them); offsets are stored and committed by us only
//!   after processing, only as far as the contiguous processed prefix
//!   ([`offsets`]), and synchronously before partitions are revoked, so the
//!   next owner starts exactly where we stopped.
//! - Topic: created when missing (AdminClient) with the configured partitions
//!   and replication.

mod consumer;
pub mod offsets;
mod producer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

pub use consumer::KafkaConsumer;
pub use producer::KafkaPublisher;

use crate::config::KafkaConfig;
use crate::error::BusError;
use crate::{Bus, BusKind, Consumer, Publisher};

/// A Kafka bus: the topic exists (or was created) when this is constructed.
pub struct KafkaBus {
    cfg: Arc<KafkaConfig>,
}

impl KafkaBus {
    pub async fn connect(cfg: KafkaConfig) -> Result<KafkaBus, BusError> {
        cfg.validate()?;
        if cfg.create_topic {
            ensure_topic(&cfg).await?;
        }
        Ok(KafkaBus { cfg: Arc::new(cfg) })
    }

    pub fn config(&self) -> &KafkaConfig {
        &self.cfg
    }

    pub fn publisher(&self) -> Result<KafkaPublisher, BusError> {
        KafkaPublisher::new(self.cfg.clone())
    }

    pub async fn consumer(&self) -> Result<KafkaConsumer, BusError> {
        KafkaConsumer::new(self.cfg.clone()).await
    }
}

#[async_trait]
impl Bus for KafkaBus {
    fn kind(&self) -> BusKind {
        BusKind::Kafka
    }

    async fn publisher(&self) -> Result<Arc<dyn Publisher>, BusError> {
        Ok(Arc::new(KafkaBus::publisher(self)?))
    }

    async fn consumer(&self) -> Result<Box<dyn Consumer>, BusError> {
        Ok(Box::new(KafkaBus::consumer(self).await?))
    }
}

/// Client callbacks that route librdkafka's logs into `tracing`. Connection
/// losses are reported as warnings: librdkafka retries them itself, and the
/// bus's callers see the effect (a slow publish, an empty poll), not an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        forward_log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        forward_error(&error, reason);
    }
}

pub(crate) fn forward_log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(target: "librdkafka", fac, "{message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(target: "librdkafka", fac, "{message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, "{message}"),
    }
}

pub(crate) fn forward_error(error: &KafkaError, reason: &str) {
    if matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal)) {
        tracing::error!(target: "librdkafka", %error, reason, "fatal kafka client error");
    } else {
        tracing::warn!(target: "librdkafka", %error, reason, "kafka client error");
    }
}

/// Settings every client shares.
pub(crate) fn base_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.bootstrap_servers).set("client.id", &cfg.client_id);
    for (k, v) in &cfg.properties {
        c.set(k, v.expose());
    }
    c
}

/// Create the topic if it does not exist; an existing topic is left as it is.
///
/// Existence is checked first from the cluster's metadata (listing all topics,
/// which never auto-creates one with broker defaults); only a missing topic
/// costs a CreateTopics request.
pub async fn ensure_topic(cfg: &KafkaConfig) -> Result<(), BusError> {
    let admin: Arc<AdminClient<LogContext>> = Arc::new(base_config(cfg).create_with_context(LogContext)?);
    let timeout = Duration::from_millis(cfg.admin_timeout_ms);
    let probe = admin.clone();
    let topic_name = cfg.topic.clone();
    let exists = tokio::task::spawn_blocking(move || -> Result<bool, BusError> {
        let md = probe.inner().fetch_metadata(None, timeout)?;
        Ok(md.topics().iter().any(|t| t.name() == topic_name && t.error().is_none()))
    })
    .await
    .map_err(|e| BusError::Task(e.to_string()))??;
    if exists {
        return Ok(());
    }
    let opts = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let topic = NewTopic::new(&cfg.topic, cfg.partitions, TopicReplication::Fixed(cfg.replication));
    let results = admin.create_topics([&topic], &opts).await?;
    for r in results {
        match r {
            Ok(_) => tracing::info!(topic = %cfg.topic, partitions = cfg.partitions, "created kafka topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(BusError::Config(format!("cannot create kafka topic {name}: {code}")));
            }
        }
    }
    Ok(())
}
