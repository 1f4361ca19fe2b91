//! Load tool: publish → consume throughput and latency of each bus.
//!
//! ```text
//! cargo run --release -p arbytron-bus --example bus-bench -- \
//!     --bus memory|redis|kafka [--count 500000] [--batch 1000] [--markets 500]
//!     [--partitions 8] [--rate 0] [--redis-url redis://127.0.0.1:6379] [--kafka BOOTSTRAP]
//! ```
//!
//! The whole production path runs: `run_ingest` (batching, envelopes,
//! MessagePack) → broker → `run_consumer` (decode, dedup, handler, ack).
//! Latency is the consumer's receipt time minus the envelope's publish stamp,
//! both from this host's clock. `--rate N` paces the generator at N updates/s
//! (latency at a realistic load); `--rate 0` (default) saturates the bus
//! (throughput). Without `--kafka`, Kafka runs against librdkafka's in-process
//! mock cluster (real protocol over TCP, but not a real broker's storage).
//! Redis streams and groups are unique per run and deleted at the end.
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbytron_bus::envelope::now_us;
use arbytron_bus::{
    Bus, ConsumeOptions, Deduplicator, Envelope, IngestOptions, KafkaBus, KafkaConfig, MemoryBus, MemoryConfig,
    RedisBus, RedisConfig, run_consumer, run_ingest,
};
use arbytron_integration::Secret;
use arbytron_model::{Book, Level, MarketKey, MarketUpdate, Price, Qty, Venue};
use hdrhistogram::Histogram;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct Args {
    bus: String,
    count: u64,
    batch: usize,
    markets: usize,
    partitions: u32,
    rate: u64,
    redis_url: String,
    kafka: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        bus: "memory".into(),
        count: 500_000,
        batch: 1000,
        markets: 500,
        partitions: 8,
        rate: 0,
        redis_url: "redis://127.0.0.1:6379".into(),
        kafka: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let num = |v: &str| v.parse::<u64>().unwrap_or_else(|_| panic!("{flag} takes a number"));
        match flag.as_str() {
            "--bus" => a.bus = v,
            "--count" => a.count = num(&v),
            "--batch" => a.batch = num(&v) as usize,
            "--markets" => a.markets = num(&v) as usize,
            "--partitions" => a.partitions = num(&v) as u32,
            "--rate" => a.rate = num(&v),
            "--redis-url" => a.redis_url = v,
            "--kafka" => a.kafka = Some(v),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// A realistic book update: five levels a side.
fn update(market: usize, n: u64) -> MarketUpdate {
    let lvl = |p: i64, q: i64| Level::new(Price::from_micros(p).unwrap_or(Price::ZERO), Qty::from_contracts(q));
    MarketUpdate::Book {
        market: MarketKey::new(Venue::Kalshi, format!("KXBENCH-26DEC-M{market}")),
        book: Book {
            yes_bids: (0..5).map(|i| lvl(450_000 - i * 10_000, 10 + i + (n % 7) as i64)).collect(),
            yes_asks: (0..5).map(|i| lvl(460_000 + i * 10_000, 12 + i)).collect(),
        },
        venue_ts: (now_us() / 1000),
    }
}

#[tokio::main]
async fn main() {
    let a = args();
    let tag = format!("bench-{}-{}", std::process::id(), now_us());
    // Keeps the mock cluster alive for the run.
    let mut mock: Option<rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext>> = None;
    let bus: Box<dyn Bus> = match a.bus.as_str() {
        "memory" => Box::new(MemoryBus::new(&MemoryConfig { capacity: 65_536 }).unwrap()),
        "redis" => Box::new(
            RedisBus::connect(RedisConfig {
                url: Secret::new(a.redis_url.clone()),
                stream: tag.clone(),
                partitions: a.partitions,
                group: "bench".into(),
                consumer: "bench-1".into(),
                read_count: a.batch,
                maxlen: a.count.max(10_000),
                ..RedisConfig::default()
            })
            .await
            .expect("redis reachable"),
        ),
        "kafka" => {
            let mut properties = std::collections::BTreeMap::new();
            let bootstrap = match &a.kafka {
                Some(b) => b.clone(),
                None => {
                    // The mock answers an empty fetch only after the full fetch.wait.max.ms
                    // (a real broker answers as soon as data arrives), so poll it often.
                    properties.insert("fetch.wait.max.ms".to_string(), Secret::new("5"));
                    let m = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
                    m.create_topic(&tag, a.partitions as i32, 1).expect("mock topic");
                    let b = m.bootstrap_servers();
                    mock = Some(m);
                    b
                }
            };
            Box::new(
                KafkaBus::connect(KafkaConfig {
                    bootstrap_servers: bootstrap,
                    topic: tag.clone(),
                    group: tag.clone(),
                    partitions: a.partitions as i32,
                    linger_ms: 1,
                    commit_interval_ms: 200,
                    poll_timeout_ms: 50,
                    properties,
                    ..KafkaConfig::default()
                })
                .await
                .expect("kafka reachable"),
            )
        }
        other => panic!("unknown bus {other}"),
    };

    let publisher = bus.publisher().await.unwrap();
    let consumer = bus.consumer().await.unwrap();
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()));
    let consumed = Arc::new(AtomicU64::new(0));
    let last_at = Arc::new(Mutex::new(Instant::now()));
    let stop = CancellationToken::new();

    let consumer_task = {
        let (hist, consumed, last_at, stop) = (hist.clone(), consumed.clone(), last_at.clone(), stop.clone());
        let n = a.count;
        let batch = a.batch;
        tokio::spawn(async move {
            let mut dedup = Deduplicator::new(n as usize + 1);
            let shutdown = stop.clone();
            let handler = move |e: Envelope| {
                let lat = (now_us() - e.publish_ts_us).max(1) as u64;
                let _ = hist.lock().unwrap().record(lat);
                if consumed.fetch_add(1, Ordering::Relaxed) + 1 == n {
                    *last_at.lock().unwrap() = Instant::now();
                    stop.cancel();
                }
                std::future::ready(Ok::<(), Infallible>(()))
            };
            let opts = ConsumeOptions { max_batch: batch, ..ConsumeOptions::default() };
            run_consumer(consumer, &mut dedup, &opts, shutdown, handler).await
        })
    };
    // Let the consumer join its group before the clock starts.
    tokio::time::sleep(Duration::from_millis(if a.bus == "kafka" { 4000 } else { 200 })).await;

    let (tx, rx) = mpsc::channel(a.batch * 4);
    let started = Instant::now();
    let opts = IngestOptions { source: "bench".into(), max_batch: a.batch, ..IngestOptions::default() };
    let ingest = tokio::spawn(async move { run_ingest(publisher.as_ref(), rx, opts, CancellationToken::new()).await });
    let (count, markets, rate) = (a.count, a.markets, a.rate);
    tokio::spawn(async move {
        // Paced runs release a millisecond's worth of updates every millisecond.
        let per_tick = (rate / 1000).max(1);
        let pace = (rate > 0).then(|| Duration::from_secs_f64(per_tick as f64 / rate as f64));
        let mut tick = pace.map(tokio::time::interval);
        for i in 0..count {
            if let Some(t) = tick.as_mut()
                && i % per_tick == 0
            {
                t.tick().await;
            }
            if tx.send(update(i as usize % markets, i)).await.is_err() {
                return;
            }
        }
    });
    let report = ingest.await.unwrap().unwrap();
    let publish_secs = started.elapsed().as_secs_f64();
    let run = consumer_task.await.unwrap().unwrap();
    let total_secs = last_at.lock().unwrap().duration_since(started).as_secs_f64();

    let h = hist.lock().unwrap().clone();
    println!(
        "bus={} count={} batch={} partitions={} markets={} rate={}",
        a.bus,
        a.count,
        a.batch,
        a.partitions,
        a.markets,
        if a.rate == 0 { "max".to_string() } else { format!("{}/s", a.rate) }
    );
    println!(
        "published {} in {:.2}s: {:.0} msg/s",
        report.published,
        publish_secs,
        report.published as f64 / publish_secs
    );
    println!("end-to-end {} in {:.2}s: {:.0} msg/s", run.processed, total_secs, run.processed as f64 / total_secs);
    println!(
        "latency publish->handler (us): p50={} p90={} p99={} p99.9={} max={}",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );

    drop(mock);
    if a.bus == "redis" {
        let client = redis::Client::open(a.redis_url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        for p in 0..a.partitions {
            let _: () = redis::cmd("DEL").arg(format!("{tag}:{p}")).query_async(&mut conn).await.unwrap();
        }
    }
}
