//! WebSocket order-book throughput: decode a delta frame and apply it to the
//! local book (and, separately, also build the published top-of-book).
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::hint::black_box;

use arbytron_kalshi::book::LocalBook;
use arbytron_kalshi::decode::{self, WsMessage};
use arbytron_model::{Price, Qty};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn frames(n: usize) -> Vec<String> {
    // Deterministic pseudo-random deltas over 40 levels a side, as a busy market streams them.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let side = if x & 1 == 0 { "yes" } else { "no" };
            let cents = 10 + (x >> 8) % 40;
            let sign = if (x >> 20) & 1 == 0 { "" } else { "-" };
            let qty = 1 + (x >> 24) % 500;
            format!(
                r#"{{"type":"orderbook_delta","sid":1,"seq":{},"msg":{{"market_ticker":"KXFEDDECISION-26DEC-H0","market_id":"9a0b1c2d-3e4f-5a6b-7c8d-9e0f1a2b3c4d","price_dollars":"0.{:02}00","delta_fp":"{sign}{qty}.00","side":"{side}","ts":"2026-07-01T12:00:00Z","ts_ms":1782907200000}}}}"#,
                i + 2,
                cents
            )
        })
        .collect()
}

fn seed_book() -> LocalBook {
    let lv = |lo: i64| {
        (0..40).map(|c| (Price::from_micros_const((lo + c) * 10_000), Qty::from_contracts(1_000))).collect::<Vec<_>>()
    };
    LocalBook::from_snapshot(&lv(10), &lv(10)).unwrap()
}

fn bench(c: &mut Criterion) {
    let frames = frames(10_000);
    let mut g = c.benchmark_group("kalshi_ws");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(decode::decode(black_box(f), false).ok());
            }
        })
    });
    g.bench_function("decode_apply", |b| {
        b.iter_batched(
            seed_book,
            |mut book| {
                for f in &frames {
                    if let Ok(WsMessage::Delta { side, price, delta, .. }) = decode::decode(f, false) {
                        let _ = book.apply(side, price, delta);
                    }
                }
                book
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("decode_apply_publish_top10", |b| {
        b.iter_batched(
            seed_book,
            |mut book| {
                for f in &frames {
                    if let Ok(WsMessage::Delta { side, price, delta, .. }) = decode::decode(f, false) {
                        let _ = book.apply(side, price, delta);
                        black_box(book.to_book(10).ok());
                    }
                }
                book
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
