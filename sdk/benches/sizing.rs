//! How long the money math takes per call, natively.
//!
//! `cargo bench -p arbytron-sdk --bench sizing`
#![allow(clippy::unwrap_used, clippy::let_underscore_must_use)] // test code: a panic is a failed test

use std::hint::black_box;

use arbytron_sdk::amm;
use arbytron_sdk::sizing::{self, Limits};
use arbytron_sdk::wire::{LegHeader, LegsBuf};
use arbytron_sdk::{Candidate, FeeSchedule, Level, Money, Price, Qty, Side, Venue};
use criterion::{Criterion, criterion_group, criterion_main};

const DAY: i64 = 86_400_000;

fn header(outcome: u32, market: u32, venue: Venue, side: Side, fee: FeeSchedule) -> LegHeader {
    LegHeader::new(outcome, market, venue, side, fee)
}

/// `n` asks from `first` micro-dollars up by `step`, `qty` contracts each.
fn ladder(first: i64, step: i64, n: usize, qty: i64) -> Vec<Level> {
    (0..n as i64).map(|k| Level::new(Price::from_micros_const(first + k * step), Qty::from_contracts(qty))).collect()
}

fn kalshi() -> FeeSchedule {
    FeeSchedule::kalshi("KXFED", "quadratic", "1").expect("schedule")
}

fn polymarket() -> FeeSchedule {
    FeeSchedule::Polymarket { rate_ppm: 40_000, exponent: 1 }
}

/// YES on Kalshi and NO on Polymarket, 10 levels each; profitable for the
/// first few levels, so the optimum sits mid-book.
fn pair() -> LegsBuf {
    let mut buf = LegsBuf::default();
    buf.push_book(&header(0, 1, Venue::Kalshi, Side::Yes, kalshi()), ladder(440_000, 5_000, 10, 25), 10);
    buf.push_book(&header(1, 2, Venue::PolymarketClob, Side::No, polymarket()), ladder(520_000, 4_000, 10, 30), 10);
    buf
}

/// Five outcomes at about 0.18 each; outcome 2 is also offered by a binary AMM pool.
fn bundle_with_pool(pool_outcomes: usize) -> LegsBuf {
    let mut buf = LegsBuf::default();
    for o in 0..5u32 {
        let fee = if o % 2 == 0 { kalshi() } else { polymarket() };
        let venue = if o % 2 == 0 { Venue::Kalshi } else { Venue::PolymarketClob };
        buf.push_book(&header(o, 10 + o, venue, Side::Yes, fee), ladder(180_000 + 2_000 * o as i64, 3_000, 10, 40), 10);
    }
    let mut h = header(2, 30, Venue::PolymarketAmm, Side::Yes, FeeSchedule::Amm { fee_wad: 20_000_000_000_000_000 });
    h.fixed_cost = Money::parse("0.02").expect("gas");
    // The pool prices its outcome 0 at about 0.17 ($5,000 of depth per side).
    let mut balances = vec![5_000_000_000i64; pool_outcomes];
    balances[0] = 5_000_000_000 * 83 / 17;
    if pool_outcomes > 2 {
        for b in balances.iter_mut().skip(1) {
            *b = 5_000_000_000;
        }
    }
    buf.push_pool(&h, 0, balances);
    buf
}

fn bench(c: &mut Criterion) {
    let limits = Limits::default();

    let buf = pair();
    let cand = Candidate::new(1, 0, 30 * DAY, &buf.legs, &buf.data).expect("candidate");
    assert!(sizing::best_opportunity(&cand, &limits).is_some(), "the pair must be profitable");
    c.bench_function("sizing/pair_2_legs_10_levels", |b| {
        b.iter(|| sizing::best_opportunity(black_box(&cand), black_box(&limits)))
    });
    c.bench_function("sizing/pair_2_legs_10_levels_decode_and_size", |b| {
        b.iter(|| {
            let cand = Candidate::new(1, 0, 30 * DAY, black_box(&buf.legs), black_box(&buf.data)).expect("candidate");
            sizing::best_opportunity(&cand, &limits)
        })
    });

    for (name, n) in
        [("sizing/bundle_5_outcomes_binary_amm_leg", 2usize), ("sizing/bundle_5_outcomes_5_outcome_amm_leg", 5)]
    {
        let buf = bundle_with_pool(n);
        let cand = Candidate::new(2, 0, 30 * DAY, &buf.legs, &buf.data).expect("candidate");
        assert!(sizing::best_opportunity(&cand, &limits).is_some(), "the bundle must be profitable");
        c.bench_function(name, |b| b.iter(|| sizing::best_opportunity(black_box(&cand), black_box(&limits))));
    }

    let b2 = [100_000_000_000u128, 250_000_000_000];
    let b5 = [100_000_000_000u128, 250_000_000_000, 80_000_000_000, 90_000_000_000, 120_000_000_000];
    let fee = 20_000_000_000_000_000u64;
    c.bench_function("amm/calc_buy_amount_binary", |b| {
        b.iter(|| amm::calc_buy_amount(black_box(&b2), fee, black_box(1_234_567_890), 0))
    });
    c.bench_function("amm/calc_buy_amount_5_outcomes", |b| {
        b.iter(|| amm::calc_buy_amount(black_box(&b5), fee, black_box(1_234_567_890), 0))
    });
    c.bench_function("amm/investment_for_tokens_binary", |b| {
        b.iter(|| amm::investment_for_tokens(black_box(&b2), fee, 0, black_box(5_000_000_000)))
    });
    c.bench_function("amm/investment_for_tokens_5_outcomes", |b| {
        b.iter(|| amm::investment_for_tokens(black_box(&b5), fee, 0, black_box(5_000_000_000)))
    });
    let k = kalshi();
    c.bench_function("fees/kalshi_taker", |b| {
        b.iter(|| k.taker_fee(black_box(Qty::from_hundredths(12_345)), black_box(Price::from_micros_const(456_700))))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).warm_up_time(std::time::Duration::from_millis(500)).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
