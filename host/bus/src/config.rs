//! Bus configuration, as it appears in the service's TOML (`[bus]` with `kind = "memory" | "redis" | "kafka"`).
//!
//! Every field has a default that works on one host; [`BusConfig::validate`]
//! rejects values that cannot work before anything connects.

use std::collections::BTreeMap;

use arbytron_integration::Secret;
use serde::{Deserialize, Deserializer};

use crate::error::BusError;

/// Which bus to run, with its settings.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusConfig {
    Memory(MemoryConfig),
    Redis(RedisConfig),
    Kafka(KafkaConfig),
}

impl Default for BusConfig {
    fn default() -> BusConfig {
        BusConfig::Memory(MemoryConfig::default())
    }
}

impl BusConfig {
    pub fn validate(&self) -> Result<(), BusError> {
        match self {
            BusConfig::Memory(c) => c.validate(),
            BusConfig::Redis(c) => c.validate(),
            BusConfig::Kafka(c) => c.validate(),
        }
    }
}

/// Where a brand-new consumer group starts reading.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartFrom {
    /// Everything still retained (nothing published before the group existed is skipped).
    #[default]
    Earliest,
    /// Only what is published after the group is created.
    Latest,
}

/// The in-process bus: one bounded channel between connectors and engine.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MemoryConfig {
    /// Envelopes buffered before publishers wait (backpressure).
    pub capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> MemoryConfig {
        MemoryConfig { capacity: 65_536 }
    }
}

impl MemoryConfig {
    pub fn validate(&self) -> Result<(), BusError> {
        if self.capacity == 0 {
            return Err(BusError::Config("memory.capacity must be at least 1".into()));
        }
        Ok(())
    }
}

/// Redis Streams: `partitions` streams named `{stream}:{i}`, one consumer group over all of them.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; held as a secret because it may carry a password.
    #[serde(deserialize_with = "secret")]
    pub url: Secret,
    /// Stream name prefix; partition `i` is the stream `{stream}:{i}`.
    pub stream: String,
    /// Number of streams; a market always maps to the same one (FNV-1a of its key, mod `partitions`).
    /// Changing it remaps keys: drain the streams first.
    pub partitions: u32,
    /// Consumer group (created on each stream if missing).
    pub group: String,
    /// This consumer's name in the group. Must be stable across restarts of the same
    /// host (so it resumes its own pending entries first) and unique across hosts.
    pub consumer: String,
    /// Read only these partitions (static sharding across hosts keeps each market
    /// on one consumer, hence in order); all of them when unset.
    pub only_partitions: Option<Vec<u32>>,
    /// Approximate cap per stream in entries (`XADD MAXLEN ~`): memory bound, and the
    /// most a lagging consumer can fall behind before entries are trimmed unread.
    /// An entry holds up to `entry_max_envelopes` envelopes (one publish batch's
    /// share of the stream), one under a trickle.
    pub maxlen: u64,
    /// Entries per stream per read (`XREADGROUP COUNT`); each may hold several envelopes.
    pub read_count: usize,
    /// How long a read waits for new entries (`XREADGROUP BLOCK`).
    pub block_ms: u64,
    /// An entry pending this long on another consumer is taken over (`XAUTOCLAIM` min idle time).
    /// Longer than the slowest handler; shorter than you are willing to wait after a crash.
    pub claim_min_idle_ms: u64,
    /// How often to look for such entries.
    pub claim_interval_ms: u64,
    pub start: StartFrom,
    /// A command with no reply after this long fails (and is retried); must exceed `block_ms`.
    pub response_timeout_ms: u64,
    /// Most envelopes packed into one stream entry. Packing a batch's envelopes per
    /// stream into one entry makes Redis's per-entry work (XADD, pending list, XACK)
    /// per batch instead of per update; an entry is acked once all its envelopes are.
    pub entry_max_envelopes: usize,
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        RedisConfig {
            url: Secret::new("redis://127.0.0.1:6379"),
            stream: "arbytron:updates".into(),
            partitions: 8,
            group: "arbytron".into(),
            consumer: default_consumer_name(),
            only_partitions: None,
            maxlen: 1_000_000,
            read_count: 64,
            block_ms: 200,
            claim_min_idle_ms: 30_000,
            claim_interval_ms: 5_000,
            start: StartFrom::Earliest,
            response_timeout_ms: 5_000,
            entry_max_envelopes: 512,
        }
    }
}

impl RedisConfig {
    pub fn validate(&self) -> Result<(), BusError> {
        let bad = |m: String| Err(BusError::Config(format!("redis.{m}")));
        if !self.url.expose().starts_with("redis://")
            && !self.url.expose().starts_with("rediss://")
            && !self.url.expose().starts_with("unix://")
        {
            return bad("url must start with redis://, rediss:// or unix://".into());
        }
        name("redis.stream", &self.stream)?;
        name("redis.group", &self.group)?;
        name("redis.consumer", &self.consumer)?;
        if !(1..=4096).contains(&self.partitions) {
            return bad(format!("partitions must be in 1..=4096, got {}", self.partitions));
        }
        if let Some(only) = &self.only_partitions {
            if only.is_empty() {
                return bad("only_partitions is empty; leave it unset to read every partition".into());
            }
            let mut sorted = only.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != only.len() {
                return bad("only_partitions lists a partition twice".into());
            }
            if let Some(p) = only.iter().find(|&&p| p >= self.partitions) {
                return bad(format!("only_partitions has {p}, but partitions is {}", self.partitions));
            }
        }
        if self.read_count == 0 || self.entry_max_envelopes == 0 {
            return bad("read_count and entry_max_envelopes must be at least 1".into());
        }
        if self.maxlen < self.read_count as u64 {
            return bad(format!("maxlen ({}) must be at least read_count ({})", self.maxlen, self.read_count));
        }
        if self.block_ms == 0 || self.block_ms >= self.response_timeout_ms {
            return bad(format!(
                "block_ms ({}) must be positive and below response_timeout_ms ({})",
                self.block_ms, self.response_timeout_ms
            ));
        }
        if self.claim_min_idle_ms == 0 || self.claim_interval_ms == 0 {
            return bad("claim_min_idle_ms and claim_interval_ms must be positive".into());
        }
        Ok(())
    }

    /// Stream name of partition `p`.
    pub fn stream_name(&self, p: u32) -> String {
        format!("{}:{p}", self.stream)
    }

    /// The partitions this consumer reads.
    pub fn consumed_partitions(&self) -> Vec<u32> {
        self.only_partitions.clone().unwrap_or_else(|| (0..self.partitions).collect())
    }
}

/// Kafka compression codec for produced batches.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Best on a CPU-bound host with a fast network (the messages are small and already compact).
    #[default]
    None,
    Lz4,
    Zstd,
    Snappy,
    Gzip,
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
            Compression::Gzip => "gzip",
        }
    }
}

/// Kafka: one topic keyed by market, one consumer group across hosts.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port...]`.
    pub bootstrap_servers: String,
    pub topic: String,
    /// Partitions when the bus creates the topic; the ceiling on how many hosts share the work.
    pub partitions: i32,
    /// Replication factor when the bus creates the topic.
    pub replication: i32,
    /// Create the topic if it does not exist.
    pub create_topic: bool,
    /// Consumer group: hosts with the same group split the partitions between them.
    pub group: String,
    pub client_id: String,
    /// How long the producer waits to fill a batch (`linger.ms`).
    pub linger_ms: u32,
    /// Most messages per produce request (`batch.num.messages`).
    pub batch_messages: u32,
    pub compression: Compression,
    /// A message not acknowledged after this long fails its publish (which the ingest loop retries).
    pub message_timeout_ms: u32,
    /// A consumer silent this long is evicted and its partitions reassigned.
    pub session_timeout_ms: u32,
    /// Processed offsets are committed at most this often (and always before a rebalance and on close).
    pub commit_interval_ms: u64,
    /// How long one poll waits for the first message.
    pub poll_timeout_ms: u64,
    pub start: StartFrom,
    /// Timeout of admin and metadata calls (topic creation, watermarks).
    pub admin_timeout_ms: u64,
    /// Extra librdkafka properties (security.protocol, sasl.*, ...); values are secrets.
    /// The bus's own guarantees (idempotence, acks, manual commits) cannot be overridden here.
    #[serde(deserialize_with = "secret_map")]
    pub properties: BTreeMap<String, Secret>,
}

impl Default for KafkaConfig {
    fn default() -> KafkaConfig {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            topic: "arbytron.updates".into(),
            partitions: 12,
            replication: 1,
            create_topic: true,
            group: "arbytron".into(),
            client_id: "arbytron".into(),
            linger_ms: 2,
            batch_messages: 10_000,
            compression: Compression::None,
            message_timeout_ms: 300_000,
            session_timeout_ms: 10_000,
            commit_interval_ms: 500,
            poll_timeout_ms: 200,
            start: StartFrom::Earliest,
            admin_timeout_ms: 10_000,
            properties: BTreeMap::new(),
        }
    }
}

/// librdkafka properties the bus sets itself because its guarantees depend on them.
pub const RESERVED_KAFKA_PROPERTIES: &[&str] = &[
    "enable.idempotence",
    "acks",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "group.id",
    "bootstrap.servers",
    "max.in.flight.requests.per.connection",
];

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), BusError> {
        let bad = |m: String| Err(BusError::Config(format!("kafka.{m}")));
        if self.bootstrap_servers.trim().is_empty() {
            return bad("bootstrap_servers is empty".into());
        }
        for server in self.bootstrap_servers.split(',') {
            let server = server.trim();
            let port_ok = server.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                return bad(format!("bootstrap_servers entry {server:?} is not host:port"));
            }
        }
        if self.topic.is_empty()
            || self.topic.len() > 249
            || !self.topic.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return bad(format!("topic {:?} must be 1-249 characters of [A-Za-z0-9._-]", self.topic));
        }
        name("kafka.group", &self.group)?;
        name("kafka.client_id", &self.client_id)?;
        if self.partitions < 1 || self.replication < 1 {
            return bad(format!(
                "partitions ({}) and replication ({}) must be at least 1",
                self.partitions, self.replication
            ));
        }
        if self.batch_messages == 0 || self.message_timeout_ms == 0 || self.poll_timeout_ms == 0 {
            return bad("batch_messages, message_timeout_ms and poll_timeout_ms must be positive".into());
        }
        if self.session_timeout_ms < 100 || self.commit_interval_ms == 0 || self.admin_timeout_ms == 0 {
            return bad("session_timeout_ms must be at least 100; commit and admin timeouts positive".into());
        }
        if let Some(k) = self.properties.keys().find(|k| RESERVED_KAFKA_PROPERTIES.contains(&k.as_str())) {
            return bad(format!("properties may not set {k:?}: the bus sets it to keep its delivery guarantees"));
        }
        Ok(())
    }
}

fn name(what: &str, v: &str) -> Result<(), BusError> {
    if v.is_empty() || v.len() > 200 || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BusError::Config(format!("{what} {v:?} must be 1-200 characters without spaces")));
    }
    Ok(())
}

/// This host's name (for consumer names that are stable across restarts).
pub fn default_consumer_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && !h.chars().any(char::is_whitespace));
    host.unwrap_or_else(|| "arbytron".into())
}

fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

fn secret_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Secret>, D::Error> {
    let m = BTreeMap::<String, String>::deserialize(d)?;
    Ok(m.into_iter().map(|(k, v)| (k, Secret::new(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_json(s: &str) -> Result<BusConfig, serde_json::Error> {
        serde_json::from_str(s)
    }

    #[test]
    fn defaults_are_valid() {
        BusConfig::default().validate().unwrap();
        BusConfig::Redis(RedisConfig::default()).validate().unwrap();
        BusConfig::Kafka(KafkaConfig::default()).validate().unwrap();
    }

    #[test]
    fn parses_tagged_configs_and_keeps_secrets_secret() {
        let c = from_json(r#"{"kind":"redis","url":"redis://:hunter2@10.0.0.5:6379","partitions":4}"#).unwrap();
        let BusConfig::Redis(r) = &c else { panic!("{c:?}") };
        assert_eq!(r.partitions, 4);
        assert_eq!(r.group, "arbytron");
        assert!(!format!("{c:?}").contains("hunter2"));
        let k =
            from_json(r#"{"kind":"kafka","bootstrap_servers":"a:1,b:2","properties":{"sasl.password":"pw"}}"#).unwrap();
        assert!(!format!("{k:?}").contains("\"pw\""));
        k.validate().unwrap();
    }

    #[test]
    fn typos_are_errors() {
        let err = from_json(r#"{"kind":"redis","partitons":4}"#).unwrap_err();
        assert!(err.to_string().contains("partitons"), "{err}");
        assert!(from_json(r#"{"kind":"rabbit"}"#).is_err());
    }

    #[test]
    fn bad_values_are_explained() {
        let check = |c: BusConfig, needle: &str| {
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains(needle), "{err:?} should mention {needle:?}");
        };
        check(BusConfig::Memory(MemoryConfig { capacity: 0 }), "capacity");
        check(BusConfig::Redis(RedisConfig { partitions: 0, ..Default::default() }), "partitions");
        check(BusConfig::Redis(RedisConfig { url: Secret::new("http://x"), ..Default::default() }), "url");
        check(BusConfig::Redis(RedisConfig { block_ms: 9_000, ..Default::default() }), "block_ms");
        check(
            BusConfig::Redis(RedisConfig { only_partitions: Some(vec![9]), ..Default::default() }),
            "only_partitions",
        );
        check(BusConfig::Redis(RedisConfig { consumer: "a b".into(), ..Default::default() }), "consumer");
        check(
            BusConfig::Kafka(KafkaConfig { bootstrap_servers: "localhost".into(), ..Default::default() }),
            "host:port",
        );
        check(BusConfig::Kafka(KafkaConfig { topic: "a/b".into(), ..Default::default() }), "topic");
        let mut props = BTreeMap::new();
        props.insert("enable.idempotence".to_string(), Secret::new("false"));
        check(BusConfig::Kafka(KafkaConfig { properties: props, ..Default::default() }), "enable.idempotence");
    }
}
