//! CPU cost of the per-message work every bus does: envelope encode/decode,
//! the deduplicator, and the partition hash. (Broker throughput and latency:
//! `examples/bus-bench.rs`.)
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::hint::black_box;

use arbytron_bus::partition::partition_of;
use arbytron_bus::{Deduplicator, Envelope, EnvelopeId, Sequencer};
use arbytron_model::{Book, Level, MarketKey, MarketUpdate, Price, Qty, Venue};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn envelope() -> Envelope {
    let lvl = |p: i64, q: i64| Level::new(Price::from_micros(p).unwrap(), Qty::from_contracts(q));
    let update = MarketUpdate::Book {
        market: MarketKey::new(Venue::Kalshi, "KXFED-26DEC-T4.00"),
        book: Book {
            yes_bids: (0..5).map(|i| lvl(450_000 - i * 10_000, 10 + i)).collect(),
            yes_asks: (0..5).map(|i| lvl(460_000 + i * 10_000, 12 + i)).collect(),
        },
        venue_ts: 1_767_000_000_000,
    };
    Sequencer::new("bench").seal(update, 0)
}

fn codec(c: &mut Criterion) {
    let env = envelope();
    let bytes = env.encode(1).unwrap();
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("encode_book_5x5_{}B", bytes.len()), |b| {
        let mut buf = Vec::with_capacity(512);
        b.iter(|| {
            buf.clear();
            black_box(&env).encode_into(1, &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.bench_function("decode_book_5x5", |b| b.iter(|| Envelope::decode(black_box(&bytes)).unwrap()));
    g.bench_function("reject_foreign", |b| b.iter(|| Envelope::decode(black_box(b"{\"foreign\":1}")).is_err()));
    g.finish();
}

fn dedup(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup");
    g.throughput(Throughput::Elements(1));
    g.bench_function("check_and_record_window_1M", |b| {
        let mut d = Deduplicator::new(1 << 20);
        let mut seq = 0u64;
        b.iter(|| {
            seq += 1;
            let id = EnvelopeId::new(0x1234_5678_9abc_def0, seq);
            if !d.is_duplicate(id) {
                d.record(id);
            }
        })
    });
    g.finish();
    c.bench_function("partition_of_fnv1a", |b| b.iter(|| partition_of(black_box("kalshi:KXFED-26DEC-T4.00"), 16)));
}

criterion_group!(benches, codec, dedup);
criterion_main!(benches);
