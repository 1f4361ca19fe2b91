//! What can go wrong on a bus, split so callers can tell "try again" from "fix the config".

use crate::envelope::Envelope;

/// A bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The configuration cannot work; fix it and restart.
    #[error("invalid bus configuration: {0}")]
    Config(String),
    /// The Redis connection or command failed; usually transient (the caller retries).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis answered with something that is not the documented reply shape.
    #[error("unexpected redis reply to {command}: {detail}")]
    RedisReply { command: &'static str, detail: String },
    /// The Kafka client reported an error; fatal ones are flagged by [`BusError::is_transient`].
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// A message could not be encoded (a payload serde refused).
    #[error("cannot encode envelope: {0}")]
    Encode(String),
    /// The bus was shut down; nothing more will flow.
    #[error("bus closed")]
    Closed,
    /// The consumer's handler refused an update; it stays unacknowledged and will be redelivered.
    #[error("handler failed: {0}")]
    Handler(Box<dyn std::error::Error + Send + Sync>),
    /// A blocking task (Kafka metadata calls) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(String),
}

impl BusError {
    /// Whether waiting and retrying the same operation can succeed.
    ///
    /// Connection losses, timeouts and broker-side hiccups are transient; bad
    /// configuration, fatal Kafka errors (a fenced idempotent producer) and a
    /// failed handler are not.
    pub fn is_transient(&self) -> bool {
        match self {
            BusError::Redis(e) => redis_is_transient(e),
            BusError::RedisReply { .. } => true,
            BusError::Kafka(e) => !matches!(e.rdkafka_error_code(), Some(rdkafka::types::RDKafkaErrorCode::Fatal)),
            BusError::Config(_) | BusError::Encode(_) | BusError::Closed | BusError::Handler(_) | BusError::Task(_) => {
                false
            }
        }
    }
}

/// Connection trouble, a server still loading its AOF after a restart, or a
/// group that vanished with a non-persistent server (the consumer recreates it).
fn redis_is_transient(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind as S};
    match e.kind() {
        ErrorKind::Io | ErrorKind::Parse => true,
        ErrorKind::Server(k) => {
            matches!(k, S::BusyLoading | S::TryAgain | S::MasterDown | S::ClusterDown | S::ReadOnly)
        }
        ErrorKind::Extension => is_nogroup(e),
        _ => e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal(),
    }
}

/// The stream or its consumer group is gone (a server restarted without persistence, or a
/// stream was deleted; a read blocked on a deleted stream fails with UNBLOCKED): the consumer
/// recreates its groups and carries on.
pub(crate) fn is_nogroup(e: &redis::RedisError) -> bool {
    // Pipelined replies carry no single error code; the server's text always starts with the code.
    matches!(e.code(), Some("NOGROUP" | "UNBLOCKED")) || {
        let text = e.to_string();
        text.contains("NOGROUP") || text.contains("UNBLOCKED")
    }
}

/// A publish that did not complete, with every envelope of the batch handed
/// back so the caller can retry them unchanged (same envelope ids, so any that
/// did reach the broker are dropped as duplicates by the consumer's
/// [`crate::Deduplicator`]).
#[derive(Debug, thiserror::Error)]
#[error("publish of {} envelopes failed: {error}", unsent.len())]
pub struct PublishError {
    pub error: BusError,
    pub unsent: Vec<Envelope>,
}

impl PublishError {
    pub fn new(error: impl Into<BusError>, unsent: Vec<Envelope>) -> PublishError {
        PublishError { error: error.into(), unsent }
    }
}
