//! The in-process bus and the two process roles on top of it.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

mod common;

use std::convert::Infallible;
use std::time::Duration;

use arbytron_bus::{
    BusConfig, BusError, BusKind, ConsumeOptions, Consumer, Deduplicator, Envelope, IngestOptions, MemoryBus,
    MemoryConfig, Publisher, Sequencer, connect, run_consumer, run_ingest,
};
use common::*;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn seal_all(n: u64, markets: usize) -> Vec<Envelope> {
    let mut seq = Sequencer::new("memory-test");
    updates(n, markets).into_iter().map(|u| seq.seal(u, 0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_to_consumer_in_order_through_the_default_bus() {
    const N: u64 = 20_000;
    let bus = connect(&BusConfig::default()).await.unwrap();
    assert_eq!(bus.kind(), BusKind::Memory);
    let publisher = bus.publisher().await.unwrap();
    let consumer = bus.consumer().await.unwrap();

    let (tx, rx) = mpsc::channel(1024);
    let ingest = tokio::spawn(async move {
        run_ingest(publisher.as_ref(), rx, IngestOptions::default(), CancellationToken::new()).await
    });
    let seen = Seen::default();
    let stop = CancellationToken::new();
    let (s, st) = (seen.clone(), stop.clone());
    let consume = tokio::spawn(async move {
        let mut dedup = Deduplicator::new(N as usize);
        let handler = move |e: Envelope| {
            s.push(e);
            std::future::ready(Ok::<(), Infallible>(()))
        };
        run_consumer(consumer, &mut dedup, &ConsumeOptions::default(), st, handler).await
    });
    for u in updates(N, 100) {
        tx.send(u).await.unwrap();
    }
    drop(tx);
    assert_eq!(ingest.await.unwrap().unwrap().published, N);
    wait_for("everything consumed", Duration::from_secs(30), || seen.len() as u64 >= N).await;
    stop.cancel();
    let report = consume.await.unwrap().unwrap();
    assert_eq!(report.processed, N);
    let all = seen.all();
    assert_unique(all.iter().map(|e| e.id));
    assert_per_key_order(&all);
    // One FIFO: global publish order, not just per key.
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(all.iter().all(|e| e.publish_ts_us > 0 && e.source.starts_with("ingest@")));
}

#[tokio::test]
async fn a_full_channel_makes_publishers_wait() {
    let bus = MemoryBus::new(&MemoryConfig { capacity: 8 }).unwrap();
    let publisher = bus.publisher();
    let mut consumer = bus.consumer().unwrap();
    let batch = seal_all(20, 3);
    let mut publish = Box::pin(publisher.publish(batch.clone()));
    assert!(futures::poll!(&mut publish).is_pending(), "20 envelopes cannot fit in 8 slots");

    // Draining the queue lets the publisher finish.
    let drain = async {
        let mut got = Vec::new();
        while got.len() < batch.len() {
            got.extend(consumer.poll(5).await.unwrap());
        }
        got
    };
    let (published, got) = tokio::join!(publish, drain);
    published.unwrap();
    assert_eq!(got.iter().map(|d| d.envelope.id).collect::<Vec<_>>(), batch.iter().map(|e| e.id).collect::<Vec<_>>());
    assert!(got.iter().all(|d| !d.redelivered));
}

#[tokio::test]
async fn one_consumer_at_a_time_and_the_queue_outlives_it() {
    let bus = MemoryBus::new(&MemoryConfig::default()).unwrap();
    let first = bus.consumer().unwrap();
    assert!(matches!(bus.consumer(), Err(BusError::Config(_))));
    drop(first);
    // Published while nobody consumes: waits in the queue for the next consumer.
    let batch = seal_all(3, 1);
    bus.publisher().publish(batch.clone()).await.unwrap();
    let mut second = bus.consumer().unwrap();
    let lag = second.lag().await.unwrap();
    assert_eq!(lag[0].lag, Some(3));
    let got = second.poll(10).await.unwrap();
    assert_eq!(got.len(), 3);
    second.ack(&got.iter().map(|d| d.token.clone()).collect::<Vec<_>>()).await.unwrap();
    assert_eq!(second.stats().delivered, 3);
}

#[tokio::test]
async fn repeated_envelopes_reach_the_handler_once() {
    let bus = MemoryBus::new(&MemoryConfig::default()).unwrap();
    let batch = seal_all(50, 5);
    bus.publisher().publish(batch.clone()).await.unwrap();
    bus.publisher().publish(batch.clone()).await.unwrap();
    let seen = Seen::default();
    let stop = CancellationToken::new();
    let s = seen.clone();
    let st = stop.clone();
    let consumer = Box::new(bus.consumer().unwrap());
    let task = tokio::spawn(async move {
        let mut dedup = Deduplicator::new(1000);
        let handler = move |e: Envelope| {
            s.push(e);
            std::future::ready(Ok::<(), Infallible>(()))
        };
        run_consumer(consumer, &mut dedup, &ConsumeOptions::default(), st, handler).await
    });
    wait_for("first copies", Duration::from_secs(10), || seen.len() >= 50).await;
    // Let the second copy pass through.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let report = task.await.unwrap().unwrap();
    assert_eq!((report.processed, report.duplicates), (50, 50));
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn a_failing_handler_stops_the_consumer_without_acking_the_failed_update() {
    let bus = MemoryBus::new(&MemoryConfig::default()).unwrap();
    let batch = seal_all(10, 2);
    bus.publisher().publish(batch.clone()).await.unwrap();
    let mut calls = 0;
    let handler = move |e: Envelope| {
        calls += 1;
        let r = if calls == 4 { Err(std::io::Error::other(format!("engine refused {}", e.id))) } else { Ok(()) };
        std::future::ready(r)
    };
    let mut dedup = Deduplicator::new(100);
    let err = run_consumer(
        Box::new(bus.consumer().unwrap()),
        &mut dedup,
        &ConsumeOptions::default(),
        CancellationToken::new(),
        handler,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BusError::Handler(_)));
    assert!(err.to_string().contains(&batch[3].id.to_string()), "{err}");
    assert_eq!(dedup.len(), 3, "only the three processed updates are recorded");
}

#[tokio::test]
async fn ingest_flushes_what_is_queued_on_shutdown() {
    let bus = MemoryBus::new(&MemoryConfig::default()).unwrap();
    let publisher = bus.publisher();
    let mut consumer = bus.consumer().unwrap();
    let (tx, rx) = mpsc::channel(100);
    for u in updates(25, 5) {
        tx.send(u).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    shutdown.cancel();
    let report = run_ingest(&publisher, rx, IngestOptions { max_batch: 10, ..IngestOptions::default() }, shutdown)
        .await
        .unwrap();
    assert_eq!(report.published, 25);
    assert_eq!(consumer.poll(100).await.unwrap().len(), 25);
}
