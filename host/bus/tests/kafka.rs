//! Kafka bus against librdkafka's mock cluster: real Kafka protocol over TCP,
//! in-process brokers we can take down and bring back. Each test gets its own
//! cluster, topic and group.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::convert::Infallible;
use std::time::Duration;

use arbytron_bus::metrics::REJECTED;
use arbytron_bus::{
    ConsumeOptions, ConsumeReport, Consumer, Deduplicator, Envelope, IngestOptions, KafkaBus, KafkaConfig, Publisher,
    Sequencer, run_consumer, run_ingest,
};
use arbytron_model::MarketUpdate;
use common::*;
use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Mock = MockCluster<'static, rdkafka::producer::DefaultProducerContext>;

fn cluster(brokers: i32) -> Mock {
    MockCluster::new(brokers).expect("librdkafka mock cluster")
}

/// The mock cluster does not implement CreateTopics, so tests create the topic
/// through the mock's own API; the bus then finds it in the metadata.
fn cfg(mock: &Mock, prefix: &str, partitions: i32, replication: i32) -> KafkaConfig {
    let topic = unique(prefix);
    mock.create_topic(&topic, partitions, replication).expect("mock topic");
    KafkaConfig {
        bootstrap_servers: mock.bootstrap_servers(),
        topic,
        replication,
        group: unique("group"),
        partitions,
        session_timeout_ms: 6_000,
        commit_interval_ms: 100,
        poll_timeout_ms: 100,
        linger_ms: 1,
        ..KafkaConfig::default()
    }
}

fn seal_all(source: &str, updates: Vec<MarketUpdate>) -> Vec<Envelope> {
    let mut seq = Sequencer::new(source);
    updates.into_iter().map(|u| seq.seal(u, 0)).collect()
}

fn spawn_consumer(
    consumer: Box<dyn Consumer>,
    mut dedup: Deduplicator,
    seen: Seen,
) -> (tokio::task::JoinHandle<(ConsumeReport, Deduplicator)>, CancellationToken) {
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        let handler = move |e: Envelope| {
            seen.push(e);
            std::future::ready(Ok::<(), Infallible>(()))
        };
        let report =
            run_consumer(consumer, &mut dedup, &ConsumeOptions::default(), stop, handler).await.expect("consumer ran");
        (report, dedup)
    });
    (task, shutdown)
}

/// Poll until the group has assigned this member its partitions, then a while more; return what came.
async fn drain_after_assignment(c: &mut arbytron_bus::KafkaConsumer) -> Vec<arbytron_bus::Delivery> {
    let assignment = c.assignment();
    let mut out = Vec::new();
    let start = std::time::Instant::now();
    while assignment.borrow().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "never got an assignment");
        out.extend(c.poll(1000).await.unwrap());
    }
    for _ in 0..10 {
        out.extend(c.poll(1000).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_arrives_once_in_per_key_order() {
    init_logs();
    const N: u64 = 5_000;
    let mock = cluster(3);
    let cfg = cfg(&mock, "order", 6, 1);
    let bus = KafkaBus::connect(cfg.clone()).await.unwrap();
    let seen = Seen::default();
    let (consumer, stop) =
        spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(N as usize), seen.clone());

    let publisher = bus.publisher().unwrap();
    let (tx, rx) = mpsc::channel(512);
    let opts = IngestOptions { source: "kafka-order".into(), max_batch: 500, ..IngestOptions::default() };
    let ingest = tokio::spawn(async move { run_ingest(&publisher, rx, opts, CancellationToken::new()).await });
    for u in updates(N, 41) {
        tx.send(u).await.unwrap();
    }
    drop(tx);
    assert_eq!(ingest.await.unwrap().unwrap().published, N);

    wait_for("every update consumed", Duration::from_secs(60), || seen.len() as u64 >= N).await;
    stop.cancel();
    let (report, _) = consumer.await.unwrap();
    let all = seen.all();
    assert_eq!(all.len() as u64, N);
    assert_eq!(report.processed, N);
    assert_unique(all.iter().map(|e| e.id));
    assert_per_key_order(&all);

    // The topic exists with the configured partitions, and all of them carry data.
    let probe: rdkafka::consumer::BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().unwrap();
    use rdkafka::consumer::Consumer as _;
    let md = probe.fetch_metadata(Some(&cfg.topic), Duration::from_secs(5)).unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 6);
    for p in 0..6 {
        let (low, high) = probe.fetch_watermarks(&cfg.topic, p, Duration::from_secs(5)).unwrap();
        assert!(high > low, "partition {p} got nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_dies_before_acking_is_redelivered_and_processed_once() {
    init_logs();
    let mock = cluster(1);
    let cfg = cfg(&mock, "dies", 4, 1);
    let bus = KafkaBus::connect(cfg.clone()).await.unwrap();
    let published = seal_all("kafka-dies", updates(400, 17));
    bus.publisher().unwrap().publish(published.clone()).await.unwrap();

    // The first member reads everything, processes half, then dies without acking.
    let mut dying = bus.consumer().await.unwrap();
    let mut got = Vec::new();
    while got.len() < published.len() {
        got.extend(dying.poll(1000).await.unwrap());
    }
    let seen = Seen::default();
    let mut dedup = Deduplicator::new(10_000);
    let half = got.len() / 2;
    for d in &got[..half] {
        seen.push(d.envelope.clone());
        dedup.record(d.envelope.id);
    }
    drop(dying);

    // The group hands its partitions to the next member, from the last commit (nothing).
    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), dedup, seen.clone());
    wait_for("the rest processed", Duration::from_secs(60), || seen.len() >= published.len()).await;
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.duplicates, half as u64, "the processed half was redelivered and recognised");
    assert_eq!(report.processed, (published.len() - half) as u64);
    let ids = assert_unique(seen.all().iter().map(|e| e.id));
    assert_eq!(ids, published.iter().map(|e| e.id).collect());
    assert_per_key_order(&seen.all()[half..]);

    // Everything processed is committed: a new member of the group gets nothing.
    let mut after = bus.consumer().await.unwrap();
    let extra = drain_after_assignment(&mut after).await;
    assert!(extra.is_empty(), "{} envelopes delivered again after commit", extra.len());
    let lag = after.lag().await.unwrap();
    assert_eq!(lag.len(), 4);
    assert!(lag.iter().all(|p| p.lag == Some(0)), "{lag:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_going_down_and_up_mid_stream_loses_nothing() {
    init_logs();
    const N: u64 = 10_000;
    let mock = cluster(3);
    let cfg = cfg(&mock, "broker", 6, 3);
    let bus = KafkaBus::connect(cfg.clone()).await.unwrap();
    let seen = Seen::default();
    let (consumer, stop) =
        spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(N as usize), seen.clone());

    let publisher = bus.publisher().unwrap();
    let (tx, rx) = mpsc::channel(256);
    let opts = IngestOptions { source: "kafka-broker".into(), max_batch: 250, ..IngestOptions::default() };
    let ingest = tokio::spawn(async move { run_ingest(&publisher, rx, opts, CancellationToken::new()).await });
    let (down_tx, down_rx) = tokio::sync::oneshot::channel::<()>();
    let feeder = tokio::spawn(async move {
        let mut all = updates(N, 29).into_iter();
        for u in all.by_ref().take(N as usize / 2) {
            tx.send(u).await.unwrap();
        }
        down_rx.await.unwrap();
        for u in all {
            tx.send(u).await.unwrap();
        }
    });

    wait_for("a quarter consumed", Duration::from_secs(60), || seen.len() as u64 >= N / 4).await;
    // Broker 1 leads some partitions (and maybe the group): the producer and the
    // consumer must ride it out without losing or duplicating anything.
    mock.broker_down(1).unwrap();
    down_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    mock.broker_up(1).unwrap();

    feeder.await.unwrap();
    assert_eq!(ingest.await.unwrap().unwrap().published, N);
    wait_for("every update consumed after the broker came back", Duration::from_secs(120), || seen.len() as u64 >= N)
        .await;
    stop.cancel();
    let (report, _) = consumer.await.unwrap();
    let all = seen.all();
    assert_eq!(all.len() as u64, N, "{report:?}");
    assert_unique(all.iter().map(|e| e.id));
    let seqs: std::collections::BTreeSet<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=N).collect());
    assert_per_key_order(&all);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_messages_are_counted_and_skipped() {
    init_logs();
    let mock = cluster(1);
    let cfg = cfg(&mock, "foreign", 1, 1);
    let bus = KafkaBus::connect(cfg.clone()).await.unwrap();
    let publisher = bus.publisher().unwrap();
    let before = seal_all("kafka-foreign", updates(3, 1));
    publisher.publish(before.clone()).await.unwrap();

    let raw: FutureProducer = ClientConfig::new().set("bootstrap.servers", mock.bootstrap_servers()).create().unwrap();
    let mut future_version = Vec::new();
    rmp::encode::write_array_len(&mut future_version, 2).unwrap();
    rmp::encode::write_str(&mut future_version, arbytron_bus::envelope::MAGIC).unwrap();
    rmp::encode::write_uint(&mut future_version, 7).unwrap();
    let mut corrupt = before[0].encode(1).unwrap();
    corrupt.truncate(corrupt.len() - 3);
    let before_version = REJECTED.with_label_values(&["kafka", "version"]).get();
    for payload in [&b"hello from another app"[..], &future_version[..], &corrupt[..]] {
        raw.send(FutureRecord::to(&cfg.topic).key("x").payload(payload), Duration::from_secs(5)).await.unwrap();
    }
    // A tombstone: no body at all.
    raw.send(FutureRecord::<str, [u8]>::to(&cfg.topic).key("x"), Duration::from_secs(5)).await.unwrap();
    let after = seal_all("kafka-foreign", updates(3, 1));
    publisher.publish(after.clone()).await.unwrap();

    let seen = Seen::default();
    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(100), seen.clone());
    wait_for("valid envelopes around the garbage", Duration::from_secs(60), || seen.len() >= 6).await;
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.processed, 6);
    assert_eq!(report.consumer.rejected, 4);
    let expected: Vec<_> = before.iter().chain(&after).map(|e| e.id).collect();
    assert_eq!(seen.all().iter().map(|e| e.id).collect::<Vec<_>>(), expected);
    assert!(REJECTED.with_label_values(&["kafka", "version"]).get() > before_version);
    assert!(REJECTED.with_label_values(&["kafka", "foreign"]).get() >= 2);
    assert!(REJECTED.with_label_values(&["kafka", "malformed"]).get() >= 1);

    // The rejects were committed past: the group has nothing left.
    let mut check = bus.consumer().await.unwrap();
    let extra = drain_after_assignment(&mut check).await;
    assert!(extra.is_empty());
    assert_eq!(check.stats().rejected, 0, "rejects are not redelivered either");
}
