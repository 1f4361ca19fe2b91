//! Redis Streams bus against real servers: the shared Redis on 127.0.0.1:6379,
//! and a throwaway `redis-server` with an fsync-always AOF for the restart test.
//! Every test uses its own stream prefix and group.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::convert::Infallible;
use std::time::Duration;

use arbytron_bus::metrics::REJECTED;
use arbytron_bus::{
    ConsumeOptions, ConsumeReport, Consumer, Deduplicator, Envelope, IngestOptions, Publisher, RedisBus, RedisConfig,
    Sequencer, run_consumer, run_ingest,
};
use arbytron_integration::Secret;
use arbytron_model::MarketUpdate;
use common::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn cfg(url: &str, prefix: &str) -> RedisConfig {
    RedisConfig {
        url: Secret::new(url),
        stream: unique(prefix),
        partitions: 4,
        group: "engine".into(),
        consumer: "host-a".into(),
        block_ms: 50,
        maxlen: 100_000,
        ..RedisConfig::default()
    }
}

/// Deletes the test's streams when the test ends (pass or fail).
struct Cleanup(RedisConfig);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.0.url.expose().as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        for p in 0..self.0.partitions {
            let _: Result<(), _> = redis::cmd("DEL").arg(self.0.stream_name(p)).query(&mut conn);
        }
    }
}

fn seal_all(source: &str, updates: Vec<MarketUpdate>) -> Vec<Envelope> {
    let mut seq = Sequencer::new(source);
    updates.into_iter().map(|u| seq.seal(u, 0)).collect()
}

/// Run `run_consumer` in a task, recording what the handler sees; returns the
/// task (yielding the report and the deduplicator) and its shutdown switch.
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

async fn stream_len(url: &str, stream: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("XLEN").arg(stream).query_async(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_update_arrives_once_in_per_key_order() {
    require_redis();
    init_logs();
    const N: u64 = 5_000;
    let cfg = cfg(REDIS_URL, "order");
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let seen = Seen::default();
    let (consumer, stop) =
        spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(N as usize), seen.clone());

    let publisher = bus.publisher().await.unwrap();
    let (tx, rx) = mpsc::channel(512);
    let opts = IngestOptions { source: "ingest-test".into(), max_batch: 256, ..IngestOptions::default() };
    let ingest = tokio::spawn(async move { run_ingest(&publisher, rx, opts, CancellationToken::new()).await });
    for u in updates(N, 37) {
        tx.send(u).await.unwrap();
    }
    drop(tx);
    let ingested = ingest.await.unwrap().unwrap();
    assert_eq!(ingested.published, N);

    wait_for("every update consumed", Duration::from_secs(60), || seen.len() as u64 >= N).await;
    stop.cancel();
    let (report, _) = consumer.await.unwrap();
    let all = seen.all();
    assert_eq!(all.len() as u64, N);
    assert_eq!(report.processed, N);
    assert_unique(all.iter().map(|e| e.id));
    assert_per_key_order(&all);
    // Keys really were spread over the partition streams.
    for p in 0..cfg.partitions {
        assert!(stream_len(REDIS_URL, &cfg.stream_name(p)).await > 0, "stream {p} got nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_a_dead_consumer_are_claimed_and_processed_once() {
    require_redis();
    init_logs();
    let cfg = RedisConfig { claim_min_idle_ms: 300, claim_interval_ms: 100, ..cfg(REDIS_URL, "claim") };
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let mut dying = bus.consumer_named("host-a").await.unwrap();
    let published = seal_all("claim-test", updates(300, 11));
    bus.publisher().await.unwrap().publish(published.clone()).await.unwrap();

    // host-a takes everything, processes half, and dies without acking.
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

    // host-b claims host-a's entries once they have been idle for 300 ms.
    let rescuer = bus.consumer_named("host-b").await.unwrap();
    let (task, stop) = spawn_consumer(Box::new(rescuer), dedup, seen.clone());
    wait_for("the rest processed", Duration::from_secs(30), || seen.len() >= published.len()).await;
    stop.cancel();
    let (report, dedup) = task.await.unwrap();

    let ids = assert_unique(seen.all().iter().map(|e| e.id));
    assert_eq!(ids, published.iter().map(|e| e.id).collect());
    assert_eq!(report.consumer.redelivered, published.len() as u64, "every entry came back via XAUTOCLAIM");
    assert_eq!(report.duplicates, half as u64, "the processed half was recognised, not reprocessed");
    assert_eq!(dedup.duplicates(), half as u64);
    assert_per_key_order(&seen.all()[half..]);

    // Nothing is left pending in the group.
    let mut check = bus.consumer_named("host-c").await.unwrap();
    let lag = check.lag().await.unwrap();
    assert!(lag.iter().all(|p| p.pending == Some(0)), "{lag:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_consumer_resumes_from_its_pending_list() {
    require_redis();
    init_logs();
    let cfg = cfg(REDIS_URL, "pel");
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let published = seal_all("pel-test", updates(120, 5));
    bus.publisher().await.unwrap().publish(published.clone()).await.unwrap();

    let mut first = bus.consumer().await.unwrap();
    let mut got = Vec::new();
    while got.len() < published.len() {
        got.extend(first.poll(1000).await.unwrap());
    }
    assert!(got.iter().all(|d| !d.redelivered));
    // The batch went out as one entry per stream; deliveries of one entry share its token.
    let first_entry = got.iter().take_while(|d| d.token == got[0].token).count();
    assert!(first_entry > 10 && first_entry < got.len(), "one entry per stream: {first_entry}");
    let seen = Seen::default();
    let mut dedup = Deduplicator::new(1_000);
    // Process the first entry and ten envelopes of the second; ack the first entry and
    // three of those ten (the other seven: crash between handler and ack).
    let processed = first_entry + 10;
    for d in &got[..processed] {
        seen.push(d.envelope.clone());
        dedup.record(d.envelope.id);
    }
    let tokens: Vec<_> = got[..first_entry + 3].iter().map(|d| d.token.clone()).collect();
    first.ack(&tokens).await.unwrap();
    drop(first);

    // Same consumer name again (the host restarted): its pending list comes back first,
    // whole entries only: the fully acked entry is gone, the partly acked one is back entire.
    let mut again = bus.consumer().await.unwrap();
    let replay = drain(&mut again).await;
    assert!(replay.iter().all(|d| d.redelivered));
    assert_eq!(replay.len(), published.len() - first_entry);
    drop(again);

    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), dedup, seen.clone());
    wait_for("all processed", Duration::from_secs(30), || seen.len() >= published.len()).await;
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.duplicates, 10, "the ten processed envelopes of the replayed entry are dropped");
    let ids = assert_unique(seen.all().iter().map(|e| e.id));
    assert_eq!(ids.len(), published.len());
    let mut check = bus.consumer_named("observer").await.unwrap();
    assert!(check.lag().await.unwrap().iter().all(|p| p.pending == Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_republished_batch_is_processed_once() {
    require_redis();
    init_logs();
    let cfg = cfg(REDIS_URL, "retry");
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let batch = seal_all("retry-test", updates(200, 7));
    let publisher = bus.publisher().await.unwrap();
    // A publish whose reply was lost is retried with the same envelopes.
    publisher.publish(batch.clone()).await.unwrap();
    publisher.publish(batch.clone()).await.unwrap();

    let seen = Seen::default();
    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(1_000), seen.clone());
    wait_for("both copies read", Duration::from_secs(30), || seen.len() >= batch.len()).await;
    // Wait until the second copy has been read and acked too.
    let mut check = bus.consumer_named("observer").await.unwrap();
    loop {
        let lag = check.lag().await.unwrap();
        if lag.iter().all(|p| p.lag == Some(0) && p.pending == Some(0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.processed, batch.len() as u64);
    assert_eq!(report.duplicates, batch.len() as u64);
    assert_unique(seen.all().iter().map(|e| e.id));
    assert_per_key_order(&seen.all());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_entries_are_counted_acked_and_skipped() {
    require_redis();
    init_logs();
    let cfg = RedisConfig { partitions: 1, ..cfg(REDIS_URL, "foreign") };
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let publisher = bus.publisher().await.unwrap();
    let before = seal_all("foreign-test", updates(3, 1));
    publisher.publish(before.clone()).await.unwrap();

    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let stream = cfg.stream_name(0);
    let mut future_version = Vec::new();
    rmp::encode::write_array_len(&mut future_version, 2).unwrap();
    rmp::encode::write_str(&mut future_version, arbytron_bus::envelope::MAGIC).unwrap();
    rmp::encode::write_uint(&mut future_version, 99).unwrap();
    let mut corrupt = before[0].encode(1).unwrap();
    corrupt.truncate(corrupt.len() - 5);
    // A batch frame with one good envelope and one bad: the good one survives.
    let mixed_good = seal_all("foreign-test", updates(1, 1)).remove(0);
    let mut mixed = Vec::new();
    rmp::encode::write_array_len(&mut mixed, 2).unwrap();
    rmp::encode::write_bin(&mut mixed, &mixed_good.encode(1).unwrap()).unwrap();
    rmp::encode::write_bin(&mut mixed, b"junk").unwrap();
    let garbage: [(&str, Vec<u8>); 5] = [
        ("foo", b"bar".to_vec()),            // another app's entry
        ("e", b"{\"json\": true}".to_vec()), // not MessagePack
        ("e", future_version),               // a newer schema
        ("e", corrupt),                      // ours, but cut short
        ("b", mixed),                        // a batch with one bad envelope
    ];
    let before_foreign = REJECTED.with_label_values(&["redis", "foreign"]).get();
    for (field, value) in &garbage {
        let _: String =
            redis::cmd("XADD").arg(&stream).arg("*").arg(field).arg(&value[..]).query_async(&mut raw).await.unwrap();
    }
    let after = seal_all("foreign-test", updates(3, 1));
    publisher.publish(after.clone()).await.unwrap();

    let seen = Seen::default();
    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(100), seen.clone());
    wait_for("valid envelopes on both sides of the garbage", Duration::from_secs(30), || seen.len() >= 7).await;
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.processed, 7);
    assert_eq!(report.consumer.rejected, 5);
    let expected: Vec<_> = before.iter().chain([&mixed_good]).chain(&after).map(|e| e.id).collect();
    assert_eq!(seen.all().iter().map(|e| e.id).collect::<Vec<_>>(), expected);
    // The rejects are counted by reason (other tests may add to the shared counters; never less).
    assert!(REJECTED.with_label_values(&["redis", "foreign"]).get() >= before_foreign + 2);
    assert!(REJECTED.with_label_values(&["redis", "version"]).get() >= 1);
    assert!(REJECTED.with_label_values(&["redis", "malformed"]).get() >= 1);
    assert!(
        arbytron_telemetry::render_metrics().contains("arbytron_bus_rejected_total{bus=\"redis\",reason=\"version\"}")
    );
    // ...and acked, so they do not block the stream or come back.
    let mut check = bus.consumer_named("observer").await.unwrap();
    let lag = check.lag().await.unwrap();
    assert_eq!(lag[0].pending, Some(0), "{lag:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_and_pending_are_reported_per_partition() {
    require_redis();
    init_logs();
    let cfg = cfg(REDIS_URL, "lag");
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let mut consumer = bus.consumer().await.unwrap();
    let published = seal_all("lag-test", updates(100, 13));
    // One publish per update: one entry each (Redis counts lag and pending in entries).
    let publisher = bus.publisher().await.unwrap();
    for e in &published {
        publisher.publish(vec![e.clone()]).await.unwrap();
    }

    let lag = consumer.lag().await.unwrap();
    assert_eq!(lag.len(), 4);
    assert_eq!(lag.iter().map(|p| p.lag.unwrap()).sum::<i64>(), 100, "{lag:?}");

    let mut got = Vec::new();
    while got.len() < 100 {
        got.extend(consumer.poll(1000).await.unwrap());
    }
    let lag = consumer.lag().await.unwrap();
    assert_eq!(lag.iter().map(|p| p.lag.unwrap()).sum::<i64>(), 0);
    assert_eq!(lag.iter().map(|p| p.pending.unwrap()).sum::<i64>(), 100, "delivered, not acked");
    let tokens: Vec<_> = got.iter().map(|d| d.token.clone()).collect();
    consumer.ack(&tokens).await.unwrap();
    let lag = consumer.lag().await.unwrap();
    assert_eq!(lag.iter().map(|p| p.pending.unwrap()).sum::<i64>(), 0);
}

/// Kill -9 the server mid-stream and start it again on the same AOF: the
/// publisher retries, the consumer reconnects and re-reads its pending list,
/// and every update is processed exactly once, in per-key order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_stream_loses_nothing() {
    init_logs();
    const N: u64 = 20_000;
    let mut server = ThrowawayRedis::start();
    let cfg = RedisConfig { response_timeout_ms: 1_000, claim_min_idle_ms: 2_000, ..cfg(&server.url(), "restart") };
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let seen = Seen::default();
    let (consumer, stop) =
        spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(N as usize), seen.clone());

    let publisher = bus.publisher().await.unwrap();
    let (tx, rx) = mpsc::channel(256);
    let opts = IngestOptions { source: "restart-test".into(), max_batch: 200, ..IngestOptions::default() };
    let ingest = tokio::spawn(async move { run_ingest(&publisher, rx, opts, CancellationToken::new()).await });
    // Half before the crash; the rest is fed while the server is down, so publishes fail and are retried.
    let (killed_tx, killed_rx) = tokio::sync::oneshot::channel::<()>();
    let feeder = tokio::spawn(async move {
        let mut all = updates(N, 53).into_iter();
        for u in all.by_ref().take(N as usize / 2) {
            tx.send(u).await.unwrap();
        }
        killed_rx.await.unwrap();
        for u in all {
            tx.send(u).await.unwrap();
        }
    });

    wait_for("a quarter consumed", Duration::from_secs(60), || seen.len() as u64 >= N / 4).await;
    server.kill();
    killed_tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.restart();

    feeder.await.unwrap();
    let ingested = ingest.await.unwrap().unwrap();
    assert_eq!(ingested.published, N);
    assert!(ingested.retries > 0, "the restart should have failed at least one publish: {ingested:?}");
    wait_for("every update consumed after the restart", Duration::from_secs(120), || seen.len() as u64 >= N).await;
    // Anything the server still had pending would show up now as a duplicate or an extra.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let (report, _) = consumer.await.unwrap();
    let all = seen.all();
    assert_eq!(all.len() as u64, N, "{report:?}");
    let ids = assert_unique(all.iter().map(|e| e.id));
    let seqs: std::collections::BTreeSet<u64> = all.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=N).collect(), "every sequence number once");
    assert_eq!(ids.len() as u64, N);
    assert_per_key_order(&all);
}

/// A server restarted without persistence (or a stream deleted by hand) loses
/// the consumer group: the consumer recreates it and carries on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_consumer_group_is_recreated() {
    require_redis();
    init_logs();
    let cfg = RedisConfig { partitions: 2, ..cfg(REDIS_URL, "nogroup") };
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let publisher = bus.publisher().await.unwrap();
    let seen = Seen::default();
    let (task, stop) = spawn_consumer(Box::new(bus.consumer().await.unwrap()), Deduplicator::new(1_000), seen.clone());
    let first = seal_all("nogroup-test", updates(20, 4));
    publisher.publish(first.clone()).await.unwrap();
    wait_for("the first updates", Duration::from_secs(30), || seen.len() >= 20).await;

    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    for p in 0..cfg.partitions {
        let _: () = redis::cmd("DEL").arg(cfg.stream_name(p)).query_async(&mut raw).await.unwrap();
    }
    // Published after the group vanished: the recreated group starts from the beginning and sees them.
    let second = seal_all("nogroup-test", updates(20, 4));
    publisher.publish(second.clone()).await.unwrap();
    wait_for("the updates after the group was lost", Duration::from_secs(30), || seen.len() >= 40).await;
    stop.cancel();
    let (report, _) = task.await.unwrap();
    assert_eq!(report.processed, 40);
    assert_unique(seen.all().iter().map(|e| e.id));
}

/// Everything the consumer is given until a poll comes back empty.
async fn drain(consumer: &mut impl Consumer) -> Vec<arbytron_bus::Delivery> {
    let mut all = Vec::new();
    loop {
        let got = consumer.poll(1000).await.unwrap();
        if got.is_empty() {
            return all;
        }
        all.extend(got);
    }
}

/// Accepts every update but never finishes processing them (an engine that
/// stopped with updates still queued).
struct NeverProcessed(Seen);

impl arbytron_bus::Handler for NeverProcessed {
    type Error = std::io::Error;

    async fn handle(&mut self, e: Envelope) -> Result<(), std::io::Error> {
        self.0.push(e);
        Ok(())
    }

    async fn processed(&mut self) -> Result<(), std::io::Error> {
        Err(std::io::Error::other("engine stopped before processing its queue"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_handed_on_but_not_processed_are_not_acknowledged() {
    require_redis();
    init_logs();
    let cfg = cfg(REDIS_URL, "unprocessed");
    let _cleanup = Cleanup(cfg.clone());
    let bus = RedisBus::connect(cfg.clone()).await.unwrap();
    let published = seal_all("unprocessed-test", updates(20, 4));
    bus.publisher().await.unwrap().publish(published.clone()).await.unwrap();

    let seen = Seen::default();
    let mut dedup = Deduplicator::new(1_000);
    let consumer = Box::new(bus.consumer().await.unwrap());
    let err = run_consumer(
        consumer,
        &mut dedup,
        &ConsumeOptions::default(),
        CancellationToken::new(),
        NeverProcessed(seen.clone()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, arbytron_bus::BusError::Handler(_)), "{err}");
    assert!(seen.len() > 0, "the handler did accept updates");

    // The same consumer again (the host restarted): nothing was acknowledged,
    // so every update comes back.
    let replay = drain(&mut bus.consumer().await.unwrap()).await;
    let ids: std::collections::BTreeSet<_> = replay.iter().map(|d| d.envelope.id).collect();
    assert!(seen.all().iter().all(|e| ids.contains(&e.id)), "every accepted but unprocessed update is redelivered");
}
